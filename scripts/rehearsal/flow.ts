/**
 * The rehearsal's steps, in order: deploy, then the whole flow of the product against the
 * simulated ev.energy and the emulated AWS, then the policy check of every call the functions
 * made. Each step returns the lines it prints under its row of the table; a failed expectation
 * throws.
 */
import { AUDIT_STEPS } from "./steps-audit.js";
import { DECOMMISSION_STEPS } from "./steps-decommission.js";
import { DEPLOY_STEPS } from "./steps-deploy.js";
import { POLL_STEPS } from "./steps-poll.js";
import { WEBHOOK_STEPS } from "./steps-webhooks.js";
import type { Step } from "./world.js";

export { type Step, World } from "./world.js";

export const STEPS: readonly Step[] = [
  ...DEPLOY_STEPS,
  ...POLL_STEPS,
  ...WEBHOOK_STEPS,
  ...DECOMMISSION_STEPS,
  ...AUDIT_STEPS,
];

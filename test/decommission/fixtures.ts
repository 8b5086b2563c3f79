import { randomBytes } from "node:crypto";
import {
  type DecommissionRequest,
  INITIAL_EXECUTION,
  newRequestId,
} from "../../functions/core/decommission/model.js";
import { parsePrincipal } from "../../functions/core/decommission/principal.js";
import type { DeviceState } from "../../functions/core/device-state.js";
import { SANDBOX_APPROVER_ROLES } from "../../local/decommission-service.js";
import { HmacApprovalMac } from "../../local/hmac-approval-mac.js";

export const ARNS = {
  requester: "arn:aws:sts::111111111111:assumed-role/requester/alice",
  requesterOtherSession: "arn:aws:sts::111111111111:assumed-role/requester/bob",
  approverBob: "arn:aws:sts::111111111111:assumed-role/approver/bob",
  approverCarol: "arn:aws:sts::111111111111:assumed-role/approver/carol",
  /** alice, the requester, through the approver role: still alice. */
  approverAlice: "arn:aws:sts::111111111111:assumed-role/approver/alice",
  approverRoleIam: "arn:aws:iam::111111111111:role/approver",
  requesterRoleIam: "arn:aws:iam::111111111111:role/requester",
} as const;

/** The approver role of the sandbox and the tests: its sessions may approve. */
export const SANDBOX_APPROVERS = SANDBOX_APPROVER_ROLES;

/** The approval key of the tests (the sandbox makes its own; KMS on AWS). */
export const TEST_APPROVALS = new HmacApprovalMac(Buffer.alloc(32, 7));

export function evseId(n: number): string {
  return `evse01J${String(n).padStart(23, "0")}`;
}

export function aDevice(overrides: Partial<DeviceState> = {}): DeviceState {
  return {
    evseId: evseId(1),
    cpid: "CP-0001",
    lockMode: "UNLOCKED",
    isPluggedIn: false,
    isCharging: false,
    chargeRateWatts: 0,
    exportPowerWatts: 0,
    sampledAt: "2026-03-02T07:59:00.000Z",
    connectivity: "online",
    lifecycle: "active",
    firstSeenAt: "2026-03-01T00:00:00.000Z",
    lastChangedAt: "2026-03-02T07:59:00.000Z",
    lastSeenAt: "2026-03-02T08:00:00.000Z",
    version: 1,
    ...overrides,
  };
}

export function aRequest(overrides: Partial<DecommissionRequest> = {}): DecommissionRequest {
  const at = overrides.requestedAt ?? "2026-03-02T08:00:00.000Z";
  const id = overrides.id ?? newRequestId(Date.parse(at), randomBytes(16));
  return {
    id,
    evseId: evseId(1),
    cpid: "CP-0001",
    device: {
      cpid: "CP-0001",
      lockMode: "UNLOCKED",
      isPluggedIn: false,
      isCharging: false,
      connectivity: "online",
      sampledAt: null,
      lastSeenAt: at,
    },
    status: "PENDING_APPROVAL",
    reason: "site closed",
    externalRef: null,
    requestedBy: parsePrincipal(ARNS.requester),
    requestedAt: at,
    expiresAt: new Date(Date.parse(at) + 7 * 86_400_000).toISOString(),
    approvedBy: null,
    requestMac: null,
    approvedAt: null,
    executableUntil: null,
    approvalMac: null,
    force: false,
    decidedBy: null,
    outcome: null,
    completedAt: null,
    execution: INITIAL_EXECUTION,
    history: [
      {
        at,
        actor: ARNS.requester,
        action: "requested",
        from: null,
        to: "PENDING_APPROVAL",
        version: 1,
      },
    ],
    version: 1,
    publishedVersion: 0,
    updatedAt: at,
    ...overrides,
  };
}

import { GenerateMacCommand, type VerifyMacCommand } from "@aws-sdk/client-kms";
import { describe, expect, it } from "vitest";
import { KmsApprovalMac, type MacClient } from "../../functions/adapters/kms/approval-mac.js";
import {
  type ApprovalClaims,
  approvalMessage,
  approvalViolation,
  isSignedRequest,
  requestMessage,
} from "../../functions/core/decommission/approval.js";
import type { DecommissionRequest } from "../../functions/core/decommission/model.js";
import { parsePrincipal } from "../../functions/core/decommission/principal.js";
import { HmacApprovalMac } from "../../local/hmac-approval-mac.js";
import { ARNS, aRequest, TEST_APPROVALS } from "./fixtures.js";

const APPROVED_AT = "2026-03-02T08:30:00.000Z";

/** A request approved by bob through the API's path: signed over its claims. */
const EXECUTABLE_UNTIL = "2026-03-09T08:30:00.000Z";

async function approved(overrides: Partial<DecommissionRequest> = {}) {
  const base = aRequest(overrides);
  const approvedBy = parsePrincipal(ARNS.approverBob);
  const claims: ApprovalClaims = {
    ...base,
    approvedBy,
    approvedAt: APPROVED_AT,
    executableUntil: EXECUTABLE_UNTIL,
    force: false,
  };
  const request: DecommissionRequest = {
    ...base,
    status: "APPROVED",
    requestMac: await TEST_APPROVALS.sign(requestMessage(base)),
    approvedBy,
    approvedAt: APPROVED_AT,
    executableUntil: EXECUTABLE_UNTIL,
    approvalMac: await TEST_APPROVALS.sign(approvalMessage(claims)),
    history: [
      ...base.history,
      {
        at: APPROVED_AT,
        actor: ARNS.approverBob,
        action: "approved",
        from: "PENDING_APPROVAL",
        to: "APPROVED",
        version: 2,
      },
    ],
    version: 2,
  };
  return request;
}

describe("approval signatures", () => {
  it("bind every claim: changing any one of them changes the signed text", async () => {
    const request = await approved();
    const claims: ApprovalClaims = {
      ...request,
      approvedBy: parsePrincipal(ARNS.approverBob),
      approvedAt: APPROVED_AT,
      executableUntil: EXECUTABLE_UNTIL,
    };
    const text = approvalMessage(claims);
    for (const changed of [
      { id: "dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ" },
      { evseId: "evse01JZZZZZZZZZZZZZZZZZZZZZZZ" },
      { cpid: "OTHER" },
      { requestedBy: parsePrincipal(ARNS.requesterOtherSession) },
      { approvedBy: parsePrincipal(ARNS.approverCarol) },
      { approvedAt: "2026-03-02T08:30:00.001Z" },
      { requestedAt: "2026-03-02T08:00:00.001Z" },
      { expiresAt: "2026-04-01T00:00:00.000Z" },
      { executableUntil: "2026-04-01T00:00:00.000Z" },
      { force: true },
    ]) {
      expect(approvalMessage({ ...claims, ...changed })).not.toBe(text);
    }
    for (const changed of [
      { id: "dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ" },
      { evseId: "evse01JZZZZZZZZZZZZZZZZZZZZZZZ" },
      { cpid: "OTHER" },
      { requestedBy: parsePrincipal(ARNS.requesterOtherSession) },
      { requestedAt: "2026-03-02T08:00:00.001Z" },
      { expiresAt: "2026-04-01T00:00:00.000Z" },
    ]) {
      expect(requestMessage({ ...request, ...changed })).not.toBe(requestMessage(request));
    }
  });

  it("tell the request the API created from one edited since", async () => {
    const request = await approved();
    expect(await isSignedRequest(request, TEST_APPROVALS)).toBe(true);
    const alice = parsePrincipal(ARNS.approverAlice);
    for (const edited of [
      { ...request, requestedBy: parsePrincipal(ARNS.requesterOtherSession) },
      { ...request, evseId: "evse01JZZZZZZZZZZZZZZZZZZZZZZZ" },
      { ...request, requestMac: null },
    ]) {
      expect(await isSignedRequest(edited, TEST_APPROVALS)).toBe(false);
    }
    // A stored session field that disagrees with the signed ARN is ignored: the ARN decides.
    const relabelled = { ...request, requestedBy: { ...request.requestedBy, session: "mallory" } };
    expect(await isSignedRequest(relabelled, TEST_APPROVALS)).toBe(true);
    expect(await approvalViolation({ ...relabelled, approvedBy: alice }, TEST_APPROVALS)).toMatch(
      /approver is the requester/,
    );
  });

  it("let an approval the API signed through, and name what is wrong with any other", async () => {
    expect(await approvalViolation(await approved(), TEST_APPROVALS)).toBeUndefined();
    const cases: Array<[string, (r: DecommissionRequest) => DecommissionRequest]> = [
      ["no signed approval", (r) => ({ ...r, approvalMac: null })],
      ["signature does not verify", (r) => ({ ...r, force: true })],
      ["signature does not verify", (r) => ({ ...r, evseId: "evse01JZZZZZZZZZZZZZZZZZZZZZZZ" })],
      [
        "approver is the requester",
        (r) => ({ ...r, approvedBy: parsePrincipal(ARNS.approverAlice) }),
      ],
      [
        "approver is the requester",
        (r) => ({ ...r, approvedBy: { ...parsePrincipal(ARNS.approverAlice), session: "zed" } }),
      ],
      ["signature does not verify", (r) => ({ ...r, executableUntil: "2027-01-01T00:00:00.000Z" })],
      [
        "not a role session",
        (r) => ({ ...r, approvedBy: parsePrincipal("arn:aws:iam::111111111111:user/bob") }),
      ],
      ["not before the request's expiry", (r) => ({ ...r, expiresAt: APPROVED_AT })],
      [
        "does not show this approval exactly once",
        (r) => ({ ...r, history: r.history.slice(0, 1) }),
      ],
      [
        "does not show this approval exactly once",
        (r) => ({ ...r, history: [...r.history, ...r.history.slice(1)] }),
      ],
      [
        "request cancelled",
        (r) => ({
          ...r,
          history: [
            ...r.history,
            {
              at: APPROVED_AT,
              actor: ARNS.requester,
              action: "cancelled",
              from: "PENDING_APPROVAL",
              to: "CANCELLED",
              version: 3,
            },
          ],
        }),
      ],
    ];
    for (const [why, tamper] of cases) {
      expect(await approvalViolation(tamper(await approved()), TEST_APPROVALS)).toMatch(why);
    }
    // Signed with another key: the sandbox's own key cannot vouch for production's requests.
    const otherKey = new HmacApprovalMac(Buffer.alloc(32, 8));
    expect(await approvalViolation(await approved(), otherKey)).toMatch(/does not verify/);
  });

  it("refuse keys shorter than 32 bytes and MACs of another length", async () => {
    expect(() => new HmacApprovalMac(Buffer.alloc(16))).toThrow(/32 bytes/);
    const mac = await TEST_APPROVALS.sign("x");
    expect(await TEST_APPROVALS.verify("x", mac)).toBe(true);
    expect(await TEST_APPROVALS.verify("x", mac.slice(0, 20))).toBe(false);
    expect(await TEST_APPROVALS.verify("x", "")).toBe(false);
  });
});

describe("KmsApprovalMac", () => {
  /** KMS behind the adapter's client port: HMAC with a key of its own, KMS's error shape. */
  function fakeKms() {
    const key = new HmacApprovalMac(Buffer.alloc(32, 3));
    const commands: Array<GenerateMacCommand | VerifyMacCommand> = [];
    const client: MacClient = {
      send: async (command) => {
        commands.push(command);
        const message = Buffer.from(command.input.Message ?? new Uint8Array()).toString("utf8");
        if (command instanceof GenerateMacCommand) {
          return { Mac: Buffer.from(await key.sign(message), "base64") };
        }
        const mac = Buffer.from(command.input.Mac ?? new Uint8Array()).toString("base64");
        if (!(await key.verify(message, mac))) {
          throw Object.assign(new Error("invalid MAC"), { name: "KMSInvalidMacException" });
        }
        return { MacValid: true };
      },
    };
    return { client, commands };
  }

  it("signs and verifies with the configured key and HMAC_SHA_256", async () => {
    const kms = fakeKms();
    const mac = new KmsApprovalMac(kms.client, "arn:aws:kms:eu-west-2:111111111111:key/approvals");
    const signature = await mac.sign("approve dcr_1");
    expect(await mac.verify("approve dcr_1", signature)).toBe(true);
    expect(kms.commands.map((command) => command.input)).toMatchObject([
      { KeyId: "arn:aws:kms:eu-west-2:111111111111:key/approvals", MacAlgorithm: "HMAC_SHA_256" },
      { KeyId: "arn:aws:kms:eu-west-2:111111111111:key/approvals", MacAlgorithm: "HMAC_SHA_256" },
    ]);
  });

  it("answers false, not an error, when KMS says the MAC does not verify", async () => {
    const mac = new KmsApprovalMac(fakeKms().client, "k");
    const signature = await mac.sign("approve dcr_1");
    expect(await mac.verify("approve dcr_2", signature)).toBe(false);
    expect(await mac.verify("approve dcr_1", "")).toBe(false);
  });

  it("lets any other KMS failure through: a broken key is an error, not a forgery", async () => {
    const client: MacClient = {
      send: async () => {
        throw Object.assign(new Error("denied"), { name: "AccessDeniedException" });
      },
    };
    await expect(new KmsApprovalMac(client, "k").verify("x", "eA==")).rejects.toThrow("denied");
  });
});

/**
 * The decommission use cases' typed refusals. Each has a stable `name`; the API maps them to
 * HTTP statuses in one place (functions/api/problems.ts). Messages are written for the caller:
 * they name what is wrong and never carry internals.
 */
import type { Status } from "./model.js";

export abstract class DecommissionRefusal extends Error {}

/** The request id names no request. */
export class RequestNotFound extends DecommissionRefusal {
  override readonly name = "RequestNotFound";
  constructor(readonly requestId: string) {
    super(`no decommission request ${requestId}`);
  }
}

/** The poll has never recorded this EVSE. */
export class EvseNotFound extends DecommissionRefusal {
  override readonly name = "EvseNotFound";
  constructor(readonly evseId: string) {
    super(`EVSE ${evseId} has never been seen by the poll`);
  }
}

/** The EVSE is no longer active (removed from the fleet, or already decommissioned). */
export class EvseNotActive extends DecommissionRefusal {
  override readonly name = "EvseNotActive";
  constructor(
    readonly evseId: string,
    readonly lifecycle: string,
  ) {
    super(
      lifecycle === "decommissioned"
        ? `EVSE ${evseId} is already decommissioned`
        : `EVSE ${evseId} is no longer listed by ev.energy (lifecycle ${lifecycle})`,
    );
  }
}

/** Another request for the same EVSE is still open. */
export class OpenRequestExists extends DecommissionRefusal {
  override readonly name = "OpenRequestExists";
  constructor(
    readonly evseId: string,
    readonly openRequestId: string,
  ) {
    super(`EVSE ${evseId} already has an open decommission request: ${openRequestId}`);
  }
}

/** The request never took its EVSE's guard (another request was open): it cannot be approved. */
export class RequestNotOpened extends DecommissionRefusal {
  override readonly name = "RequestNotOpened";
  constructor(
    readonly requestId: string,
    readonly evseId: string,
  ) {
    super(
      `request ${requestId} does not hold EVSE ${evseId}: it was never fully opened or another request holds the EVSE; open a new one`,
    );
  }
}

/** The stored request does not match the signature the API gave it when it created it. */
export class RequestTampered extends DecommissionRefusal {
  override readonly name = "RequestTampered";
  constructor(readonly requestId: string) {
    super(
      `request ${requestId} was changed outside this API since it was created (or predates signed requests): it cannot be approved; open a new one`,
    );
  }
}

/** The request is not in a status the action starts from. */
export class InvalidTransition extends DecommissionRefusal {
  override readonly name = "InvalidTransition";
  constructor(
    readonly requestId: string,
    readonly action: string,
    readonly status: Status,
  ) {
    super(`cannot ${action} request ${requestId}: it is ${status}`);
  }
}

export class RequestExpired extends DecommissionRefusal {
  override readonly name = "RequestExpired";
  constructor(
    readonly requestId: string,
    readonly expiresAt: string,
  ) {
    super(`request ${requestId} expired at ${expiresAt}; open a new one`);
  }
}

/** The caller is not a session of an approver role. */
export class NotApprover extends DecommissionRefusal {
  override readonly name = "NotApprover";
  constructor(action: string, why = "your role is not one of the approver roles") {
    super(`only approvers may ${action} a request: ${why}`);
  }
}

/** The approver is the requester: the same person name, whatever role or account. */
export class SelfApproval extends DecommissionRefusal {
  override readonly name = "SelfApproval";
  constructor() {
    super(
      "the approver must be another person than the requester (same name, whatever the role or account, is the same person)",
    );
  }
}

/** The caller's identity names no person (the account root, a role without a session). */
export class NotAPerson extends DecommissionRefusal {
  override readonly name = "NotAPerson";
  constructor(kind: string) {
    super(
      kind === "root"
        ? "the account root names no person: call as an IAM user or a role session"
        : "an IAM role without a session names no person: call through an assumed-role session",
    );
  }
}

/** Only the requester may cancel. */
export class NotRequester extends DecommissionRefusal {
  override readonly name = "NotRequester";
  constructor() {
    super("only the requester may cancel a request");
  }
}

/** The device's last-seen state says it is charging and `force` was not given. */
export class DeviceCharging extends DecommissionRefusal {
  override readonly name = "DeviceCharging";
  constructor(readonly evseId: string) {
    super(`EVSE ${evseId} was charging when last seen; approve with "force": true to go ahead`);
  }
}

/** The idempotency key was used with another body. */
export class IdempotencyKeyReused extends DecommissionRefusal {
  override readonly name = "IdempotencyKeyReused";
  constructor() {
    super("this Idempotency-Key was already used with a different request body");
  }
}

/** The first call with this idempotency key is still running. */
export class IdempotencyKeyInFlight extends DecommissionRefusal {
  override readonly name = "IdempotencyKeyInFlight";
  constructor() {
    super("a call with this Idempotency-Key is still in progress; retry shortly");
  }
}

/** A pagination cursor that this service did not issue for this listing. */
export class InvalidCursor extends DecommissionRefusal {
  override readonly name = "InvalidCursor";
  constructor() {
    super("the cursor is not one this listing issued; start again without it");
  }
}

/** The request kept changing under concurrent writers; the caller may retry. */
export class RequestBusy extends DecommissionRefusal {
  override readonly name = "RequestBusy";
  constructor(readonly requestId: string) {
    super(`request ${requestId} is being changed by another call; retry`);
  }
}

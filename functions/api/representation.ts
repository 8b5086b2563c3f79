/** How requests and devices look on the wire. Execution internals (tokens, leases) stay inside. */
import type { APIGatewayProxyEvent } from "aws-lambda";
import type { DecommissionRequest } from "../core/decommission/model.js";
import type { Principal } from "../core/decommission/principal.js";

export function representPrincipal(principal: Principal | null) {
  if (principal === null) return null;
  return {
    arn: principal.arn,
    account: principal.account,
    type: principal.kind,
    name: principal.name,
    session: principal.session,
  };
}

/**
 * A request as answered. `execution.enabled` is the stage's setting at the time of the answer
 * (`decommission.executor.enabled`): false, approved requests fail without a DELETE.
 */
export function representRequest(
  request: DecommissionRequest,
  basePath: string,
  stage: { executionEnabled?: boolean | undefined } = {},
) {
  return {
    id: request.id,
    evseId: request.evseId,
    cpid: request.cpid,
    status: request.status,
    reason: request.reason,
    externalRef: request.externalRef,
    requestedBy: representPrincipal(request.requestedBy),
    requestedAt: request.requestedAt,
    expiresAt: request.expiresAt,
    approvedBy: representPrincipal(request.approvedBy),
    approvedAt: request.approvedAt,
    force: request.force,
    decidedBy: representPrincipal(request.decidedBy),
    outcome: request.outcome,
    completedAt: request.completedAt,
    device: request.device,
    execution: {
      enabled: stage.executionEnabled ?? true,
      attempts: request.execution.attempts,
      nextAttemptAt: request.execution.nextAttemptAt,
      deleteSent: request.execution.deleteSent,
      lastError: request.execution.lastError,
    },
    history: request.history.map(({ version: _version, ...entry }) => entry),
    updatedAt: request.updatedAt,
    statusUrl: requestUrl(basePath, request.id),
  };
}

export function requestUrl(basePath: string, id: string): string {
  return `${basePath}/decommission-requests/${id}`;
}

/**
 * The path prefix callers see before the API's own paths: the stage (or a custom domain's base
 * path), taken from the difference between the request context's path and the resource path.
 */
export function basePathOf(event: APIGatewayProxyEvent): string {
  const full = event.requestContext?.path;
  const path = event.path;
  if (typeof full !== "string" || typeof path !== "string" || !full.endsWith(path)) return "";
  const prefix = full.slice(0, full.length - path.length);
  return /^(\/[A-Za-z0-9._~-]+)*$/.test(prefix) ? prefix : "";
}

/**
 * The HTTP API over API Gateway REST proxy events: routing, validation, idempotency and the
 * mapping of results to responses. The Lambda handler and the local server both call the
 * function `createApi` returns; it never throws and never answers a 5xx for bad input.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { createRequest } from "../core/decommission/create-request.js";
import { EvseNotFound, RequestNotFound } from "../core/decommission/errors.js";
import {
  fingerprintOf,
  type IdempotencySettings,
  runIdempotently,
} from "../core/decommission/idempotency.js";
import { REQUEST_ID_PATTERN } from "../core/decommission/model.js";
import type {
  DeviceDirectory,
  IdempotencyStore,
  StoredResponse,
} from "../core/decommission/ports.js";
import { type Principal, principalKey } from "../core/decommission/principal.js";
import {
  approveRequest,
  cancelRequest,
  getRequest,
  listRequests,
  type RequestDependencies,
  type RequestSettings,
  rejectRequest,
} from "../core/decommission/requests.js";
import { publicState } from "../core/device-state.js";
import type { FleetReader } from "../core/fleet-reports.js";
import type { Logger } from "../ports.js";
import { fleetRoutes, silentListing } from "./fleet-routes.js";
import {
  callerOf,
  header,
  parseBody,
  parseQuery,
  type ReadRequest,
  readEvent,
} from "./http-request.js";
import { badRequest, HttpProblem, problemFor, SAFE_HEADERS } from "./problems.js";
import { basePathOf, representRequest, requestUrl } from "./representation.js";
import { matchRoute, type RouteName } from "./routes.js";
import {
  ApproveBody,
  CancelBody,
  CreateRequestBody,
  DEFAULT_PAGE_SIZE,
  EvseIdSchema,
  IdempotencyKeySchema,
  ListEvsesQuery,
  ListRequestsQuery,
  NoQuery,
  RejectBody,
} from "./schemas.js";

export interface ApiDependencies {
  requests: RequestDependencies;
  settings: RequestSettings;
  idempotency: { store: IdempotencyStore; settings: IdempotencySettings };
  directory: DeviceDirectory;
  /** Fleet health as the poll keeps it (read only). */
  fleet: FleetReader;
  logger: Logger;
}

export type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

interface Call {
  event: APIGatewayProxyEvent;
  request: ReadRequest;
  caller: Principal;
  id: string | undefined;
  basePath: string;
}

const JSON_HEADERS = { "Content-Type": "application/json", ...SAFE_HEADERS };

export function createApi(deps: ApiDependencies): ApiHandler {
  const fleet = {
    fleet: deps.fleet,
    devices: deps.requests.devices,
    clock: deps.requests.clock,
  };
  const routes: Record<RouteName, (call: Call) => Promise<APIGatewayProxyResult>> = {
    ...fleetRoutes(fleet),
    createRequest: (call) => create(deps, call),
    listRequests: async (call) => {
      const query = parseQuery(call.request, ListRequestsQuery);
      const page = await listRequests(deps.requests, {
        status: query.status,
        evseId: query.evseId,
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: query.cursor,
      });
      return json(200, {
        items: page.items.map((item) => representRequest(item, call.basePath, deps.settings)),
        nextCursor: page.nextCursor ?? null,
      });
    },
    getRequest: async (call) => {
      parseQuery(call.request, NoQuery);
      const found = await getRequest(deps.requests, requestId(call));
      return json(200, representRequest(found, call.basePath, deps.settings));
    },
    approveRequest: async (call) => {
      parseQuery(call.request, NoQuery);
      const { value } = parseBody(call.event, call.request, ApproveBody, { optional: true });
      const approved = await approveRequest(
        deps.requests,
        deps.settings,
        call.caller,
        requestId(call),
        value,
      );
      const url = requestUrl(call.basePath, approved.id);
      return json(202, representRequest(approved, call.basePath, deps.settings), { Location: url });
    },
    rejectRequest: async (call) => {
      parseQuery(call.request, NoQuery);
      const { value } = parseBody(call.event, call.request, RejectBody, { optional: false });
      const rejected = await rejectRequest(
        deps.requests,
        deps.settings,
        call.caller,
        requestId(call),
        value.reason,
      );
      return json(200, representRequest(rejected, call.basePath, deps.settings));
    },
    cancelRequest: async (call) => {
      parseQuery(call.request, NoQuery);
      const { value } = parseBody(call.event, call.request, CancelBody, { optional: true });
      const cancelled = await cancelRequest(
        deps.requests,
        deps.settings,
        call.caller,
        requestId(call),
        value.reason,
      );
      return json(200, representRequest(cancelled, call.basePath, deps.settings));
    },
    listEvses: async (call) => {
      const query = parseQuery(call.request, ListEvsesQuery);
      if (query.connectivity !== undefined || query.silentFor !== undefined) {
        return silentListing(fleet, query);
      }
      const lifecycle = query.lifecycle ?? "active";
      const page = await deps.directory.list({
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: query.cursor,
        lifecycle: lifecycle === "all" ? undefined : lifecycle,
      });
      return json(200, { items: page.items.map(publicState), nextCursor: page.nextCursor ?? null });
    },
    getEvse: async (call) => {
      parseQuery(call.request, NoQuery);
      const id = call.id ?? "";
      if (!EvseIdSchema.safeParse(id).success) throw new EvseNotFound(shorten(id));
      const device = await deps.requests.devices.get(id);
      if (device === undefined) throw new EvseNotFound(id);
      const open = await deps.requests.store.openRequestFor(id);
      return json(200, { ...publicState(device), openDecommissionRequestId: open ?? null });
    },
  };

  return async (event) => {
    const correlationId = String(event?.requestContext?.requestId ?? "unknown");
    const instance = shorten(typeof event?.path === "string" ? event.path : "/");
    try {
      const request = readEvent(event);
      const match = matchRoute(request.method, request.path);
      if (match.kind === "not-found") {
        throw new HttpProblem(404, "not-found", "Not found", "there is no resource at this path");
      }
      if (match.kind === "method-not-allowed") {
        throw new HttpProblem(
          405,
          "method-not-allowed",
          "Method not allowed",
          `this resource allows ${match.allow.join(", ")}`,
          {},
          { Allow: match.allow.join(", ") },
        );
      }
      const caller = callerOf(event);
      const response = await routes[match.name]({
        event,
        request,
        caller,
        id: match.id,
        basePath: basePathOf(event),
      });
      deps.logger.info("api call", {
        route: match.name,
        status: response.statusCode,
        caller: caller.arn,
        correlationId,
      });
      return response;
    } catch (error) {
      const { response, unexpected } = problemFor(error, instance, correlationId);
      if (unexpected) {
        deps.logger.error("api call failed unexpectedly", {
          correlationId,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      } else {
        deps.logger.info("api call refused", { status: response.statusCode, correlationId });
      }
      return response;
    }
  };
}

/**
 * POST /decommission-requests: validate first (a refused call claims no key), then run the
 * creation once per caller and Idempotency-Key.
 */
async function create(deps: ApiDependencies, call: Call): Promise<APIGatewayProxyResult> {
  parseQuery(call.request, NoQuery);
  const { value } = parseBody(call.event, call.request, CreateRequestBody, { optional: false });
  const key = header(call.request, "Idempotency-Key");
  if (key === undefined) {
    throw badRequest("the Idempotency-Key header is required (a UUID per intended request)", [
      { pointer: "header:Idempotency-Key", detail: "is required" },
    ]);
  }
  if (!IdempotencyKeySchema.safeParse(key).success) {
    throw badRequest(
      "the Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces",
      [{ pointer: "header:Idempotency-Key", detail: "is not a valid key" }],
    );
  }
  const result = await runIdempotently(
    {
      store: deps.idempotency.store,
      clock: deps.requests.clock,
      newToken: deps.requests.newToken,
    },
    deps.idempotency.settings,
    {
      scope: principalKey(call.caller),
      key,
      fingerprint: fingerprintOf("POST", "/decommission-requests", value),
    },
    async (): Promise<StoredResponse> => {
      const created = await createRequest(deps.requests, deps.settings, call.caller, value);
      const response = json(201, representRequest(created, call.basePath, deps.settings), {
        Location: requestUrl(call.basePath, created.id),
      });
      return {
        statusCode: response.statusCode,
        body: response.body,
        headers: response.headers as Record<string, string>,
      };
    },
  );
  return {
    statusCode: result.statusCode,
    body: result.body,
    headers: { ...result.headers, ...(result.replayed ? { "Idempotent-Replayed": "true" } : {}) },
  };
}

function requestId(call: Call): string {
  const id = call.id ?? "";
  if (!REQUEST_ID_PATTERN.test(id)) throw new RequestNotFound(shorten(id));
  return id;
}

function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult & { headers: Record<string, string> } {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

function shorten(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 120 ? `${clean.slice(0, 120)}…` : clean;
}

/**
 * The API's OpenAPI 3.1 document, built from the router's routes and the same zod schemas the
 * handler validates with; `npx tsx scripts/openapi.ts` writes it to docs/openapi.yaml
 * and a test fails when the file and this drift apart.
 */
import { z } from "zod";
import { REQUEST_ID_PATTERN, STATUSES } from "../core/decommission/model.js";
import { EVSE_ID_PATTERN } from "../core/evse.js";
import { CSV_COLUMNS, REPORT_MONTHS } from "./fleet-routes.js";
import { PROBLEM_TYPES } from "./problems.js";
import { ROUTES } from "./routes.js";
import {
  ApproveBody,
  CancelBody,
  CONNECTIVITY_FILTERS,
  CreateRequestBody,
  DEFAULT_PAGE_SIZE,
  LIFECYCLE_FILTERS,
  MAX_BODY_BYTES,
  MAX_PAGE_SIZE,
  MAX_REPORT_ROWS,
  RejectBody,
  SILENT_FOR_EXAMPLE,
} from "./schemas.js";

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType): Json {
  const {
    $schema: _schema,
    $ref,
    $defs,
    ...rest
  } = z.toJSONSchema(schema, { io: "input" }) as Json;
  if (typeof $ref === "string" && $defs && typeof $defs === "object") {
    return (($defs as Record<string, Json>)[$ref.replace("#/$defs/", "")] ?? rest) as Json;
  }
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Json) => ({ oneOf: [schema, { type: "null" }] });
const isoTime = { type: "string", format: "date-time" };

const Principal = {
  type: "object",
  description: "A caller, normalised from the IAM/STS ARN API Gateway verified.",
  required: ["arn", "account", "type", "name", "session"],
  properties: {
    arn: {
      type: "string",
      example: "arn:aws:sts::111111111111:assumed-role/evse-ops-prod-approver/bob",
    },
    account: { type: "string", pattern: "^\\d{12}$" },
    type: { enum: ["assumed-role", "role", "user", "root", "federated-user"] },
    name: { type: "string", description: "Role or user name (without path)." },
    session: nullable({ type: "string", description: "Role session name: the person." }),
  },
};

const HistoryEntry = {
  type: "object",
  required: ["at", "actor", "action", "from", "to"],
  properties: {
    at: isoTime,
    actor: {
      type: "string",
      description: "The caller's ARN, or system:executor / system:reconciler.",
    },
    action: {
      enum: [
        "requested",
        "approved",
        "rejected",
        "cancelled",
        "expired",
        "execution-started",
        "delete-sent",
        "attempt-failed",
        "held",
        "re-enqueued",
        "completed",
        "failed",
      ],
    },
    from: nullable({ enum: [...STATUSES] }),
    to: { enum: [...STATUSES] },
    detail: { type: "string" },
  },
};

const DecommissionRequest = {
  type: "object",
  required: [
    "id",
    "evseId",
    "cpid",
    "status",
    "reason",
    "requestedBy",
    "requestedAt",
    "expiresAt",
    "history",
    "statusUrl",
  ],
  properties: {
    id: { type: "string", pattern: REQUEST_ID_PATTERN.source },
    evseId: { type: "string", pattern: EVSE_ID_PATTERN.source },
    cpid: nullable({
      type: "string",
      description: "The device's cpid when requested; the executor deletes only that device.",
    }),
    status: { enum: [...STATUSES] },
    reason: { type: "string" },
    externalRef: nullable({ type: "string" }),
    requestedBy: ref("Principal"),
    requestedAt: isoTime,
    expiresAt: { ...isoTime, description: "A pending request expires at this time." },
    approvedBy: nullable(ref("Principal")),
    approvedAt: nullable(isoTime),
    force: { type: "boolean" },
    decidedBy: nullable(ref("Principal")),
    outcome: nullable({ type: "string", description: "Why it ended as it did." }),
    completedAt: nullable(isoTime),
    device: { type: "object", description: "The device's last-seen state when requested." },
    execution: {
      type: "object",
      properties: {
        enabled: {
          type: "boolean",
          description:
            "Whether this stage carries out approved decommissions (`decommission.executor.enabled`, at the time of the answer). false: an approved request fails without a DELETE, and its history says so.",
        },
        attempts: { type: "integer" },
        nextAttemptAt: nullable(isoTime),
        deleteSent: {
          type: "boolean",
          description:
            "A DELETE was sent for this request (its effect may be unknown); from then on, ev.energy answering 404 means it took effect",
        },
        lastError: nullable({ type: "string" }),
      },
    },
    history: { type: "array", items: ref("HistoryEntry") },
    updatedAt: isoTime,
    statusUrl: { type: "string", description: "Where to follow the request (GET)." },
  },
};

const Evse = {
  type: "object",
  description: "The last-seen state the poll recorded.",
  required: ["evseId", "lifecycle", "connectivity", "version"],
  properties: {
    evseId: { type: "string" },
    cpid: nullable({ type: "string" }),
    lockMode: nullable({ enum: ["UNLOCKED", "SMART", "LOCKED"] }),
    isPluggedIn: nullable({ type: "boolean" }),
    isCharging: nullable({ type: "boolean" }),
    chargeRateWatts: nullable({ type: "number" }),
    exportPowerWatts: nullable({ type: "number" }),
    sampledAt: nullable(isoTime),
    connectivity: { enum: ["online", "offline", "unknown"] },
    lifecycle: { enum: ["active", "removed", "decommissioned"] },
    firstSeenAt: isoTime,
    lastChangedAt: isoTime,
    lastSeenAt: isoTime,
    version: { type: "integer" },
    openDecommissionRequestId: nullable({ type: "string", description: "GET /evses/{id} only." }),
  },
};

const SilentEvse = {
  type: "object",
  description:
    "An active charger offline for at least `silentFor` (GET /evses?connectivity=offline): the offline index's fields.",
  required: ["evseId", "sampledAt", "connectivity", "lifecycle", "silentFor"],
  properties: {
    evseId: { type: "string" },
    cpid: nullable({ type: "string" }),
    lockMode: nullable({ enum: ["UNLOCKED", "SMART", "LOCKED"] }),
    sampledAt: { ...isoTime, description: "Its last sample: silence is counted from it." },
    connectivity: { enum: ["offline"] },
    lifecycle: { enum: ["active"] },
    firstSeenAt: isoTime,
    lastChangedAt: isoTime,
    silentFor: {
      type: "string",
      description: "ISO 8601 days, hours and minutes since the last sample.",
      example: "P8DT2H5M",
    },
  },
};

const EvseHistoryEntry = {
  type: "object",
  description: "One change, as published (or, for a decommission, as the executor made it).",
  required: ["evseId", "at", "type", "eventId", "observedBy", "changes", "state"],
  properties: {
    evseId: { type: "string" },
    at: { ...isoTime, description: "When the change was detected (the event's detectedAt)." },
    type: {
      enum: [
        "EVSE Discovered",
        "EVSE Status Changed",
        "EVSE Connectivity Changed",
        "EVSE Removed",
        "EVSE Decommissioned",
      ],
    },
    eventId: nullable({
      type: "string",
      description: "The published event's id (null for a decommission).",
    }),
    observedBy: { enum: ["poll", "webhook", "executor"] },
    changes: {
      type: "array",
      items: {
        type: "object",
        required: ["field", "previous", "current"],
        properties: { field: { type: "string" }, previous: {}, current: {} },
      },
    },
    state: { type: "object", description: "The device's state after the change." },
  },
};

const minutes = (description: string) => ({ type: "number", description });
const AvailabilityFigures = {
  inFleetMinutes: minutes("Online + offline + unknown."),
  onlineMinutes: minutes("Online."),
  offlineMinutes: minutes("Raw outage minutes."),
  unknownMinutes: minutes("Never reported: counts against availability, not an outage."),
  excludedMinutes: minutes("Removed, decommissioned or not yet seen."),
  availabilityPercent: nullable({
    type: "number",
    description: "online / inFleet × 100; null when never in the fleet.",
  }),
  outages: { type: "integer", description: "Offline periods overlapping the window." },
  longestOutageMinutes: minutes("The longest, within the window."),
  stateAtEnd: { type: "string" },
};
const windowSchema = {
  type: "object",
  properties: { from: isoTime, to: isoTime },
  description: "The window counted: to is never later than now.",
};

const EvseAvailability = {
  type: "object",
  required: ["evseId", "window", "definition", ...Object.keys(AvailabilityFigures)],
  properties: {
    evseId: { type: "string" },
    window: windowSchema,
    definition: { type: "string" },
    ...AvailabilityFigures,
  },
};

const FleetAvailabilityReport = {
  type: "object",
  required: ["month", "timeZone", "window", "definition", "rows", "pageTotals", "nextCursor"],
  properties: {
    month: { type: "string", example: "2026-03" },
    timeZone: { type: "string", example: "UTC" },
    window: windowSchema,
    definition: { type: "string" },
    rows: {
      type: "array",
      items: {
        type: "object",
        properties: {
          evseId: { type: "string" },
          cpid: nullable({ type: "string" }),
          ...AvailabilityFigures,
        },
      },
    },
    pageTotals: {
      type: "object",
      description:
        "This page's rows summed (minutes add up across pages; recompute the percentage).",
      properties: { devices: { type: "integer" }, ...AvailabilityFigures },
    },
    nextCursor: nullable({ type: "string", description: "Also in the Link header (rel=next)." }),
  },
};

const count = { type: "integer", minimum: 0 };
const FleetSnapshot = {
  type: "object",
  description: "Counts over the states each page of one complete sweep read.",
  required: ["sweepId", "completedAt", "devices", "lifecycle", "pluggedIn", "charging"],
  properties: {
    sweepId: { type: "string" },
    startedAt: isoTime,
    completedAt: isoTime,
    runs: { ...count, description: "Poll runs that read pages of the sweep." },
    pages: count,
    devices: {
      type: "object",
      properties: { active: count, online: count, offline: count, unknown: count },
    },
    lifecycle: {
      type: "object",
      properties: { active: count, removed: count, decommissioned: count },
    },
    pluggedIn: { ...count, description: "Online devices plugged in." },
    charging: { ...count, description: "Online devices charging." },
    chargePowerWatts: { ...count, description: "Their charge power, summed." },
    exportPowerWatts: { ...count, description: "Online devices' export power, summed." },
    lockMode: {
      type: "object",
      properties: { UNLOCKED: count, SMART: count, LOCKED: count, none: count },
    },
    newlyOffline: count,
    newlyOnline: count,
    connectivityDegraded: { type: "boolean" },
  },
};

const Problem = {
  type: "object",
  description: "RFC 9457 problem details.",
  required: ["type", "title", "status", "detail"],
  properties: {
    type: { type: "string", enum: [...PROBLEM_TYPES] },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    instance: { type: "string" },
    errors: {
      type: "array",
      items: {
        type: "object",
        properties: { pointer: { type: "string" }, detail: { type: "string" } },
      },
    },
    openRequestId: { type: "string", description: "open-request-exists: the open request." },
    requestStatus: { type: "string", description: "invalid-transition: the current status." },
    correlationId: { type: "string" },
  },
};

const page = (item: string) => ({
  type: "object",
  required: ["items", "nextCursor"],
  properties: {
    items: { type: "array", items: ref(item) },
    nextCursor: nullable({
      type: "string",
      description: "Opaque; pass as `cursor` for the next page.",
    }),
  },
});

const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [String(status), { $ref: `#/components/responses/Problem${status}` }]),
  );
const json = (schema: Json) => ({ "application/json": { schema } });
const idParameter = (what: string) => ({
  name: "id",
  in: "path",
  required: true,
  description: what,
  schema: { type: "string" },
});
const limit = {
  name: "limit",
  in: "query",
  schema: { type: "integer", minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
};
const cursor = {
  name: "cursor",
  in: "query",
  schema: { type: "string" },
  description: "From `nextCursor`.",
};

const period = (name: "from" | "to", what: string) => ({
  name,
  in: "query",
  description: what,
  schema: { type: "string", format: "date-time" },
});

const OPERATIONS: Record<(typeof ROUTES)[number]["name"], Json> = {
  createRequest: {
    summary: "Ask for an EVSE to be decommissioned",
    parameters: [
      {
        name: "Idempotency-Key",
        in: "header",
        required: true,
        description:
          "Scoped to the caller, kept at least 24 h. Same key and body: same answer; another body: 422; while the first call runs: 409.",
        schema: { type: "string", pattern: "^[\\x21-\\x7E]{1,255}$" },
      },
    ],
    requestBody: { required: true, content: json(ref("CreateDecommissionRequest")) },
    responses: {
      "201": {
        description: "Created, pending approval.",
        content: json(ref("DecommissionRequest")),
      },
      ...problems(400, 401, 403, 404, 409, 413, 415, 422),
    },
  },
  listRequests: {
    summary: "List decommission requests, newest first",
    parameters: [
      { name: "status", in: "query", schema: { enum: [...STATUSES] } },
      { name: "evseId", in: "query", schema: { type: "string" } },
      limit,
      cursor,
    ],
    responses: {
      "200": { description: "A page.", content: json(page("DecommissionRequest")) },
      ...problems(400, 401, 403),
    },
  },
  getRequest: {
    summary: "Read a decommission request and its history",
    parameters: [idParameter("The request id.")],
    responses: {
      "200": { description: "The request.", content: json(ref("DecommissionRequest")) },
      ...problems(401, 403, 404),
    },
  },
  approveRequest: {
    summary: "Approve (approvers other than the requester); execution follows asynchronously",
    parameters: [idParameter("The request id.")],
    requestBody: { required: false, content: json(ref("ApproveDecommissionRequest")) },
    responses: {
      "202": {
        description: "Approved; follow `statusUrl` (also in `Location`).",
        headers: { Location: { schema: { type: "string" } } },
        content: json(ref("DecommissionRequest")),
      },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  },
  rejectRequest: {
    summary: "Reject (approvers)",
    parameters: [idParameter("The request id.")],
    requestBody: { required: true, content: json(ref("RejectDecommissionRequest")) },
    responses: {
      "200": { description: "Rejected.", content: json(ref("DecommissionRequest")) },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  },
  cancelRequest: {
    summary: "Cancel (the requester, while pending)",
    parameters: [idParameter("The request id.")],
    requestBody: { required: false, content: json(ref("CancelDecommissionRequest")) },
    responses: {
      "200": { description: "Cancelled.", content: json(ref("DecommissionRequest")) },
      ...problems(400, 401, 403, 404, 409, 413, 415),
    },
  },
  listEvses: {
    summary:
      "List the devices' last-seen state, in id order; with connectivity=offline, the silent chargers, oldest sample first",
    parameters: [
      {
        name: "lifecycle",
        in: "query",
        schema: { enum: [...LIFECYCLE_FILTERS], default: "active" },
      },
      {
        name: "connectivity",
        in: "query",
        description: "offline: the offline index (active chargers only), oldest sample first.",
        schema: { enum: [...CONNECTIVITY_FILTERS] },
      },
      {
        name: "silentFor",
        in: "query",
        description:
          "With connectivity=offline: only chargers whose last sample is at least this old (ISO 8601 days, hours, minutes).",
        schema: { type: "string", example: SILENT_FOR_EXAMPLE },
      },
      limit,
      cursor,
    ],
    responses: {
      "200": {
        description: "A page.",
        content: json({ oneOf: [page("Evse"), page("SilentEvse")] }),
      },
      ...problems(400, 401, 403),
    },
  },
  getEvse: {
    summary: "Read one device's last-seen state and its open request",
    parameters: [idParameter("The EVSE id.")],
    responses: {
      "200": { description: "The device.", content: json(ref("Evse")) },
      ...problems(401, 403, 404),
    },
  },
  evseHistory: {
    summary: "A device's changes, newest first (kept 90 days by default)",
    parameters: [
      idParameter("The EVSE id."),
      period("from", "Oldest detection time to include (default: as far back as kept)."),
      period("to", "Newest detection time to include (default: now)."),
      limit,
      cursor,
    ],
    responses: {
      "200": { description: "A page.", content: json(page("EvseHistoryEntry")) },
      ...problems(400, 401, 403, 404),
    },
  },
  evseAvailability: {
    summary: "A device's NEVI-style availability over a window (not a compliance figure)",
    parameters: [
      idParameter("The EVSE id."),
      period("from", `Default: 30 days before to; no earlier than ${REPORT_MONTHS} months back.`),
      period("to", "Default and latest: now."),
    ],
    responses: {
      "200": { description: "The figures.", content: json(ref("EvseAvailability")) },
      ...problems(400, 401, 403, 404),
    },
  },
  fleetSnapshot: {
    summary: "The fleet as the last complete sweep saw it",
    responses: {
      "200": { description: "The latest snapshot.", content: json(ref("FleetSnapshot")) },
      ...problems(401, 403, 404),
    },
  },
  fleetAvailability: {
    summary: "The fleet's NEVI-style availability for a month, one row per device, JSON or CSV",
    parameters: [
      {
        name: "month",
        in: "query",
        required: true,
        description: `YYYY-MM: the current month or one of the ${REPORT_MONTHS - 1} before it.`,
        schema: { type: "string", pattern: "^\\d{4}-(0[1-9]|1[0-2])$" },
      },
      {
        name: "tz",
        in: "query",
        description: "IANA time zone of the month's boundaries (default UTC).",
        schema: { type: "string", example: "Europe/London" },
      },
      {
        name: "limit",
        in: "query",
        schema: { type: "integer", minimum: 1, maximum: MAX_REPORT_ROWS, default: MAX_REPORT_ROWS },
      },
      cursor,
      {
        name: "Accept",
        in: "header",
        description: "text/csv for CSV (a header line, then one line per device).",
        schema: { type: "string" },
      },
    ],
    responses: {
      "200": {
        description: `A page of at most ${MAX_REPORT_ROWS} rows; the next page is in the Link header, rel=next.`,
        headers: { Link: { schema: { type: "string" } } },
        content: {
          "application/json": { schema: ref("FleetAvailabilityReport") },
          "text/csv": {
            schema: { type: "string", description: `Columns: ${CSV_COLUMNS.join(", ")}.` },
          },
        },
      },
      ...problems(400, 401, 403, 406),
    },
  },
};

const PROBLEM_STATUSES: Record<number, string> = {
  400: "Malformed or invalid input (body, query, headers, cursor).",
  401: "No caller identity.",
  403: "Not allowed: not an approver, self-approval, not the requester, or an unsupported caller.",
  404: "No such request, EVSE or route, or no fleet snapshot yet.",
  405: "Method not allowed on this resource.",
  406: "The Accept header allows neither application/json nor text/csv.",
  409: "Conflict with the request's state (status, expiry, open request, charging, key in flight).",
  413: `Body over ${MAX_BODY_BYTES} bytes.`,
  415: "Body not sent as application/json.",
  422: "Idempotency-Key reused with another body.",
};

export function openApiDocument(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of ROUTES) {
    paths[route.path] = {
      ...paths[route.path],
      [route.method.toLowerCase()]: { operationId: route.name, ...OPERATIONS[route.name] },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "evse-ops API",
      version: "1.0.0",
      description:
        "Request, approve and follow the decommissioning of EV chargers, and read the fleet's health (snapshot, history, availability, silent chargers). Every call is signed with SigV4 (API Gateway AWS_IAM); the caller's IAM identity is who acted. Every non-2xx answer is application/problem+json (RFC 9457), API Gateway's own answers included.",
    },
    security: [{ sigv4: [] }],
    paths,
    components: {
      securitySchemes: {
        sigv4: {
          type: "apiKey",
          name: "Authorization",
          in: "header",
          description: "AWS Signature Version 4 (service execute-api).",
          "x-amazon-apigateway-authtype": "awsSigv4",
        },
      },
      schemas: {
        CreateDecommissionRequest: schemaOf(CreateRequestBody),
        ApproveDecommissionRequest: schemaOf(ApproveBody),
        RejectDecommissionRequest: schemaOf(RejectBody),
        CancelDecommissionRequest: schemaOf(CancelBody),
        DecommissionRequest,
        HistoryEntry,
        Principal,
        Evse,
        SilentEvse,
        EvseHistoryEntry,
        EvseAvailability,
        FleetAvailabilityReport,
        FleetSnapshot,
        Problem,
      },
      responses: Object.fromEntries(
        Object.entries(PROBLEM_STATUSES).map(([status, description]) => [
          `Problem${status}`,
          { description, content: { "application/problem+json": { schema: ref("Problem") } } },
        ]),
      ),
    },
  };
}

/** YAML for JSON-shaped data: block style, strings quoted only when they must be. */
export function toYaml(value: unknown, indent = 0): string {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return value
      .map((item) => {
        const rendered = toYaml(item, indent + 2);
        return isBlock(item) ? `${pad}- ${rendered.trimStart()}` : `${pad}- ${rendered}`;
      })
      .join("\n");
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Json).filter(([, item]) => item !== undefined);
    if (entries.length === 0) return "{}";
    return entries
      .map(([key, item]) =>
        isBlock(item)
          ? `${pad}${scalar(key)}:\n${toYaml(item, indent + 2)}`
          : `${pad}${scalar(key)}: ${toYaml(item, indent + 2)}`,
      )
      .join("\n");
  }
  return scalar(value);
}

function isBlock(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && typeof value === "object" && Object.keys(value).length > 0;
}

function scalar(value: unknown): string {
  if (typeof value === "string") {
    const plain =
      /^[A-Za-z_/][\w ./()-]*$/.test(value) &&
      !/^(true|false|null|yes|no|on|off|~)$/i.test(value) &&
      !value.endsWith(" ");
    return plain ? value : JSON.stringify(value);
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * A small CLI for the decommission API, signing each call with SigV4 (service `execute-api`)
 * through aws4fetch and the standard AWS credential chain (environment, profile,
 * SSO, instance role): the caller is whoever those credentials are.
 *
 *   npx tsx scripts/evse-ops-api.ts request <evseId> --reason "site closed" [--external-ref T-1]
 *   npx tsx scripts/evse-ops-api.ts approve <requestId> [--comment "…"] [--force]
 *   npx tsx scripts/evse-ops-api.ts reject <requestId> --reason "…"
 *   npx tsx scripts/evse-ops-api.ts cancel <requestId>
 *   npx tsx scripts/evse-ops-api.ts get <requestId>
 *   npx tsx scripts/evse-ops-api.ts list [--status APPROVED] [--evse <evseId>] [--cursor …]
 *   npx tsx scripts/evse-ops-api.ts evses [--cursor …] | evse <evseId>
 *
 * --url (or EVSE_OPS_API_URL): the stage URL, e.g. https://abc123.execute-api.eu-west-2.amazonaws.com/prod
 * --region (or AWS_REGION): taken from the URL when it is an execute-api host.
 * --profile: an AWS profile. --as <ARN>: only for the local sandbox (sent as X-Principal).
 * Prints the response body; the exit code is 0 for 2xx, 1 otherwise.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { AwsClient } from "aws4fetch";

/** AWS credentials as the credential chain yields them. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ApiCall {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Signs and sends one call; `as` replaces signing with the local sandbox's X-Principal. */
export async function callApi(
  baseUrl: string,
  call: ApiCall,
  options: {
    region?: string;
    profile?: string;
    as?: string;
    /** Default: the standard AWS credential chain. */
    credentials?: Credentials;
  } = {},
): Promise<{ status: number; body: string }> {
  const base = new URL(baseUrl);
  const url = new URL(`${base.pathname.replace(/\/$/, "")}${call.path}`, base);
  for (const [name, value] of Object.entries(call.query ?? {})) url.searchParams.set(name, value);
  const body = call.body === undefined ? undefined : JSON.stringify(call.body);
  const init = {
    method: call.method,
    headers: {
      accept: "application/json",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...call.headers,
    },
    ...(body === undefined ? {} : { body }),
  };
  let response: Response;
  if (options.as !== undefined) {
    response = await fetch(url, {
      ...init,
      headers: { ...init.headers, "x-principal": options.as },
    });
  } else {
    const region = options.region ?? regionOf(url) ?? process.env.AWS_REGION;
    if (!region) throw new Error("no region: pass --region or set AWS_REGION");
    const credentials =
      options.credentials ??
      (await defaultProvider(options.profile ? { profile: options.profile } : {})());
    const signer = new AwsClient({ ...credentials, service: "execute-api", region });
    response = await signer.fetch(url.href, init);
  }
  return { status: response.status, body: await response.text() };
}

function regionOf(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];
}

const USAGE =
  "usage: evse-ops-api.ts request|approve|reject|cancel|get|list|evses|evse … (see the file's header)";

export function buildCall(
  command: string,
  args: string[],
  flags: Record<string, string | boolean | undefined>,
): ApiCall {
  const text = (name: string) =>
    typeof flags[name] === "string" ? (flags[name] as string) : undefined;
  const need = (value: string | undefined, what: string) => {
    if (value === undefined || value === "") throw new Error(`${command} needs ${what}`);
    return value;
  };
  const id = args[0];
  switch (command) {
    case "request":
      return {
        method: "POST",
        path: "/decommission-requests",
        headers: { "idempotency-key": text("idempotency-key") ?? randomUUID() },
        body: {
          evseId: need(id, "an EVSE id"),
          reason: need(text("reason"), "--reason"),
          ...(text("external-ref") ? { externalRef: text("external-ref") } : {}),
        },
      };
    case "approve":
      return {
        method: "POST",
        path: `/decommission-requests/${need(id, "a request id")}/approve`,
        body: {
          ...(text("comment") ? { comment: text("comment") } : {}),
          ...(flags.force === true ? { force: true } : {}),
        },
      };
    case "reject":
      return {
        method: "POST",
        path: `/decommission-requests/${need(id, "a request id")}/reject`,
        body: { reason: need(text("reason"), "--reason") },
      };
    case "cancel":
      return { method: "POST", path: `/decommission-requests/${need(id, "a request id")}/cancel` };
    case "get":
      return { method: "GET", path: `/decommission-requests/${need(id, "a request id")}` };
    case "list": {
      const query: Record<string, string> = {};
      for (const [flag, name] of [
        ["status", "status"],
        ["evse", "evseId"],
        ["cursor", "cursor"],
        ["limit", "limit"],
      ] as const) {
        const value = text(flag);
        if (value !== undefined) query[name] = value;
      }
      return { method: "GET", path: "/decommission-requests", query };
    }
    case "evses":
      return {
        method: "GET",
        path: "/evses",
        query: text("cursor") ? { cursor: text("cursor") ?? "" } : {},
      };
    case "evse":
      return { method: "GET", path: `/evses/${need(id, "an EVSE id")}` };
    default:
      throw new Error(USAGE);
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: "string" },
      region: { type: "string" },
      profile: { type: "string" },
      as: { type: "string" },
      reason: { type: "string" },
      comment: { type: "string" },
      force: { type: "boolean" },
      "external-ref": { type: "string" },
      "idempotency-key": { type: "string" },
      status: { type: "string" },
      evse: { type: "string" },
      cursor: { type: "string" },
      limit: { type: "string" },
    },
  });
  const [command, ...args] = positionals;
  const baseUrl = values.url ?? process.env.EVSE_OPS_API_URL;
  if (!command || !baseUrl) {
    console.error(`${USAGE}\n(--url or EVSE_OPS_API_URL is required)`);
    return 2;
  }
  const call = buildCall(command, args, values);
  const { status, body } = await callApi(baseUrl, call, {
    ...(values.region ? { region: values.region } : {}),
    ...(values.profile ? { profile: values.profile } : {}),
    ...(values.as ? { as: values.as } : {}),
  });
  console.log(body);
  if (status >= 300) console.error(`HTTP ${status}`);
  return status < 300 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(2);
    },
  );
}

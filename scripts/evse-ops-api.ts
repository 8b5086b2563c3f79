/**
 * `npm run api -- <command> …`: a small CLI for the decommission API, signing each call with
 * SigV4 (service `execute-api`) through aws4fetch and the standard AWS credential chain
 * (environment, profile, SSO, instance role): the caller is whoever those credentials are.
 * `--help` lists the commands and flags (local/commands.ts); `--as <ARN>` is for the local
 * sandbox only (sent as X-Principal). Prints the response body; exit 0 for 2xx, 1 otherwise.
 */
import { randomUUID } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { hostOf, networkFailureReason } from "../functions/lib/network-failure.js";
import { CliError, helpText, parseCommandLine, runCommand, UsageError } from "../local/cli.js";
import { API_COMMAND } from "../local/commands.js";

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
  try {
    if (options.as !== undefined) {
      response = await fetch(url, {
        ...init,
        headers: { ...init.headers, "x-principal": options.as },
      });
    } else {
      const region = options.region ?? regionOf(url) ?? process.env.AWS_REGION;
      if (!region) throw new UsageError("no region: pass --region or set AWS_REGION");
      const credentials = options.credentials ?? (await awsCredentials(options.profile));
      const signer = new AwsClient({ ...credentials, service: "execute-api", region });
      response = await signer.fetch(url.href, init);
    }
    return { status: response.status, body: await response.text() };
  } catch (error) {
    if (error instanceof UsageError || error instanceof CliError) throw error;
    // Only the method, the path and the host: never a header, a query or a credential.
    throw new CliError(
      `${call.method} ${url.pathname} to ${hostOf(url)} failed: ${networkFailureReason(error)}`,
    );
  }
}

async function awsCredentials(profile: string | undefined): Promise<Credentials> {
  // Loaded only to sign: --help, a wrong flag and --as need none of the AWS SDK.
  const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
  try {
    return await defaultProvider(profile ? { profile } : {})();
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new CliError(
      `no AWS credentials${profile ? ` for profile ${profile}` : ""} (${why}): set AWS_PROFILE or run aws sso login; against the local sandbox use --as <ARN>`,
    );
  }
}

function regionOf(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];
}

const COMMANDS = ["request", "approve", "reject", "cancel", "get", "list", "evses", "evse"];

export function buildCall(
  command: string,
  args: string[],
  flags: Record<string, string | boolean | undefined>,
): ApiCall {
  const text = (name: string) =>
    typeof flags[name] === "string" ? (flags[name] as string) : undefined;
  const need = (value: string | undefined, what: string) => {
    if (value === undefined || value === "") throw new UsageError(`${command} needs ${what}`);
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
      return {
        method: "POST",
        path: `/decommission-requests/${need(id, "a request id")}/cancel`,
        ...(text("reason") ? { body: { reason: text("reason") } } : {}),
      };
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
    case "evses": {
      const query: Record<string, string> = {};
      for (const name of ["limit", "cursor"]) {
        const value = text(name);
        if (value !== undefined) query[name] = value;
      }
      return { method: "GET", path: "/evses", query };
    }
    case "evse":
      return { method: "GET", path: `/evses/${need(id, "an EVSE id")}` };
    default:
      throw new UsageError(
        command === ""
          ? `name a command: ${COMMANDS.join(", ")}`
          : `unknown command ${JSON.stringify(command)}: use ${COMMANDS.join(", ")}`,
      );
  }
}

async function main(): Promise<number> {
  const parsed = parseCommandLine(API_COMMAND, process.argv.slice(2));
  if (parsed.help) {
    process.stdout.write(helpText(API_COMMAND));
    return 0;
  }
  const { values, positionals } = parsed;
  const [command = "", ...args] = positionals;
  const baseUrl = values.url;
  if (!baseUrl) throw new UsageError("--url or EVSE_OPS_API_URL is required");
  if (!URL.canParse(baseUrl))
    throw new UsageError(`--url is not a URL: ${JSON.stringify(baseUrl)}`);
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

if (import.meta.url === `file://${process.argv[1]}`) await runCommand(API_COMMAND, main);

/**
 * The call recorder: an HTTP proxy in front of the emulator that every function's SDK clients
 * reach through AWS_ENDPOINT_URL. It tells the caller by the access key in the SigV4
 * credential, the operation by X-Amz-Target, and decides each call as IAM would with the
 * deployed policies (policy-context.ts, policy-check.ts) before forwarding it: a denied call
 * is answered AccessDeniedException, as AWS would, and never reaches the emulator, so a missing
 * grant also shows where the function meets it.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Caller } from "./lambda-runner.js";
import { type Decision, decide, type PolicySource } from "./policy-check.js";
import {
  type DeployedFacts,
  type IamRequest,
  iamRequests,
  UnmodelledCall,
} from "./policy-context.js";

export interface RecordedCall {
  readonly caller: string;
  readonly service: string;
  readonly operation: string;
  readonly body: Record<string, unknown>;
  readonly requests: readonly IamRequest[];
  readonly decision: Decision;
  /** Why a decision cannot be trusted (see policy-check.ts), or why the call is not modelled. */
  readonly problems: readonly string[];
  /** The emulator's answer (absent when the call was denied before reaching it). */
  readonly status?: number;
  readonly errorType?: string;
  readonly at: number;
}

export interface Recorder {
  readonly endpoint: string;
  readonly calls: RecordedCall[];
  /** Makes a caller's access key known, so its calls are attributed and decided. */
  register(caller: Caller): void;
  stop(): Promise<void>;
}

export async function startRecorder(
  target: string,
  policies: PolicySource,
  facts: () => DeployedFacts,
): Promise<Recorder> {
  const callers = new Map<string, Caller>();
  const calls: RecordedCall[] = [];
  const upstream = new URL(target);

  const server: Server = createServer((incoming, outgoing) => {
    void handle(incoming).then(
      ({ status, headers, body }) => {
        outgoing.writeHead(status, headers);
        outgoing.end(body);
      },
      (error: unknown) => {
        outgoing.writeHead(500, { "content-type": "text/plain" });
        outgoing.end(String(error));
      },
    );
  });

  async function handle(incoming: IncomingMessage) {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const credential = /Credential=([^/]+)\/[^/]+\/[^/]+\/([^/]+)\//.exec(
      String(incoming.headers.authorization ?? ""),
    );
    const [, accessKeyId = "", service = "unknown"] = credential ?? [];
    const target = String(incoming.headers["x-amz-target"] ?? "");
    const operation = target.split(".").pop() || `${incoming.method} ${incoming.url}`;
    let body: Record<string, unknown> = {};
    try {
      body = raw.length > 0 ? (JSON.parse(raw.toString("utf8")) as Record<string, unknown>) : {};
    } catch {
      body = { unparsed: raw.toString("utf8").slice(0, 200) };
    }

    const caller = callers.get(accessKeyId);
    const problems: string[] = [];
    let requests: IamRequest[] = [];
    let decision: Decision = "Allowed";
    if (caller === undefined) {
      problems.push(`a call with an access key no function was given (${accessKeyId})`);
      decision = "ImplicitlyDenied";
    } else {
      try {
        requests = iamRequests({ service, operation, body }, caller, facts());
      } catch (error) {
        if (!(error instanceof UnmodelledCall)) throw error;
        problems.push(error.message);
        decision = "ImplicitlyDenied";
      }
      for (const request of requests) {
        const verdict = await decide(policies, caller.sessionArn, caller.roleArn, request);
        problems.push(...verdict.problems);
        if (verdict.decision !== "Allowed" && decision === "Allowed") decision = verdict.decision;
      }
    }

    const record = {
      caller: caller?.functionName ?? `unknown:${accessKeyId}`,
      service,
      operation,
      body,
      requests,
      decision,
      problems,
      at: Date.now(),
    };
    if (decision !== "Allowed") {
      calls.push({ ...record, errorType: "AccessDeniedException" });
      const denied = requests.find(() => true);
      const message = `User: ${caller?.sessionArn ?? accessKeyId} is not authorized to perform: ${denied?.action ?? `${service}:${operation}`} on resource: ${denied?.resource ?? "*"} (the rehearsal's policy check)`;
      return {
        status: 400,
        headers: {
          "content-type": "application/x-amz-json-1.0",
          "x-amzn-errortype": "AccessDeniedException",
        },
        body: JSON.stringify({ __type: "AccessDeniedException", message, Message: message }),
      };
    }

    const answer = await forward(upstream, incoming, raw);
    const errorType =
      answer.status >= 400
        ? String(answer.headers["x-amzn-errortype"] ?? "").split(":")[0] ||
          /"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"/.exec(answer.body.toString("utf8"))?.[1]
        : undefined;
    calls.push({
      ...record,
      status: answer.status,
      ...(errorType === undefined ? {} : { errorType }),
    });
    return answer;
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    register(caller) {
      callers.set(caller.accessKeyId, caller);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Clients kept alive (the SDK's agents) would hold close() open.
        server.closeAllConnections();
      }),
  };
}

function forward(
  upstream: URL,
  incoming: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: upstream.host },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const headers: Record<string, string | string[]> = {};
          for (const [name, value] of Object.entries(response.headers)) {
            if (value !== undefined && name !== "transfer-encoding" && name !== "connection") {
              headers[name] = value;
            }
          }
          resolve({ status: response.statusCode ?? 502, headers, body: Buffer.concat(chunks) });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * The decommission API on 127.0.0.1 for the sandbox: each HTTP request becomes the API Gateway
 * proxy event the deployed API receives, and the same handler answers it.
 *
 * LOCAL ONLY: the caller's identity comes from the `X-Principal` header (an IAM or STS ARN),
 * standing in for the SigV4 signature API Gateway verifies. Only this server reads that
 * header; the Lambda handler never does (it reads `requestContext.identity.userArn`).
 *
 * It listens on 127.0.0.1 and answers only requests whose Host is a loopback name or address:
 * a web page the developer visits could otherwise reach it by DNS rebinding (its own name
 * resolving to 127.0.0.1) and act as anyone through X-Principal.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ApiHandler } from "../functions/api/app.js";
import { problemResponse } from "../functions/api/problems.js";
import { isLoopbackHostname } from "../functions/lib/secure-url.js";
import type { Logger } from "../functions/ports.js";
import { proxyEvent } from "./api-gateway-event.js";

export const PRINCIPAL_HEADER = "x-principal";
/** API Gateway's own payload limit is 10 MB; the handler refuses anything over 16 KB anyway. */
const MAX_READ_BYTES = 1024 * 1024;

export interface LocalApiServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startApiServer(options: {
  handler: ApiHandler;
  port: number;
  logger: Logger;
  /** Paths served without a caller (the webhook endpoint: its requests are Svix-signed). */
  unsignedPaths?: readonly string[];
}): Promise<LocalApiServer> {
  const unsigned = new Set(options.unsignedPaths ?? []);
  const server: Server = createServer((req, res) => {
    answer(req, options.handler, unsigned)
      .then(({ statusCode, headers, body }) => {
        res.writeHead(statusCode, headers).end(body);
      })
      .catch((error: unknown) => {
        options.logger.error("local API server failed", { error: String(error) });
        if (!res.headersSent) res.writeHead(500).end();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether a Host header (name and optional port) names this machine's loopback interface. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const hostname = host.replace(/:\d{1,5}$/, "");
  return isLoopbackHostname(hostname);
}

async function answer(req: IncomingMessage, handler: ApiHandler, unsigned: Set<string>) {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  if (!isLoopbackHost(req.headers.host)) {
    return serialise(
      problemResponse(
        403,
        "host-not-allowed",
        "Host not allowed",
        "the local API answers only requests addressed to a loopback host (localhost, 127.0.0.1, [::1])",
        url.pathname,
      ),
    );
  }
  const body = await readBody(req);
  if (body === undefined) {
    // What API Gateway itself answers to an oversized payload (a DEFAULT_4XX response).
    return serialise(
      problemResponse(
        413,
        "payload-too-large",
        "Payload too large",
        "the body is too large",
        url.pathname,
      ),
    );
  }
  const principal = req.headersDistinct[PRINCIPAL_HEADER]?.[0];
  const needsCaller = !unsigned.has(url.pathname);
  if (principal === undefined && needsCaller) {
    // API Gateway answers an unsigned call itself, before the function runs.
    return serialise(
      problemResponse(
        403,
        "unauthenticated",
        "Missing authentication",
        "the local server needs an X-Principal header with the caller's IAM or STS ARN (it stands in for a SigV4 signature)",
        url.pathname,
      ),
    );
  }
  const headers: Array<[string, string]> = [];
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (name === PRINCIPAL_HEADER) continue;
    for (const value of values ?? []) headers.push([name, value]);
  }
  const result = await handler(
    proxyEvent({
      method: req.method ?? "GET",
      path: safeDecode(url.pathname),
      query: [...url.searchParams],
      headers,
      body: body.length > 0 ? body : null,
      callerArn: needsCaller ? (principal ?? null) : null,
      // Served at the root: links the API answers resolve on this server.
      basePath: "",
    }),
  );
  return serialise(result);
}

function serialise(result: {
  statusCode: number;
  headers?: Record<string, unknown>;
  body: string;
}) {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  return { statusCode: result.statusCode, headers, body: result.body };
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_READ_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

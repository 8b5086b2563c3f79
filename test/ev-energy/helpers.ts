import type { Logger, SecretSource } from "../../functions/ports.js";

export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  message: string;
  extra: object[];
}

/** A Logger that keeps every line, so tests can assert on warnings and on what is never said. */
export class CapturingLogger implements Logger {
  readonly lines: LogLine[] = [];

  debug(message: string, ...extra: object[]): void {
    this.lines.push({ level: "debug", message, extra });
  }
  info(message: string, ...extra: object[]): void {
    this.lines.push({ level: "info", message, extra });
  }
  warn(message: string, ...extra: object[]): void {
    this.lines.push({ level: "warn", message, extra });
  }
  error(message: string, ...extra: object[]): void {
    this.lines.push({ level: "error", message, extra });
  }

  /** Every line as the JSON a structured logger would write. */
  text(): string {
    return this.lines.map((line) => JSON.stringify(line)).join("\n");
  }

  warnings(): LogLine[] {
    return this.lines.filter((line) => line.level === "warn");
  }
}

/** A SecretSource over a value a test can change, counting reads and fresh reads. */
export class FakeSecretSource implements SecretSource {
  reads = 0;
  freshReads = 0;

  constructor(public value: string) {}

  async read(options?: { fresh?: boolean }): Promise<string> {
    this.reads += 1;
    if (options?.fresh) this.freshReads += 1;
    return this.value;
  }
}

/** A fetch that answers from a handler, for unit tests with no network. */
export function fakeFetch(handler: (request: Request) => Response | Promise<Response>): {
  fetch: typeof fetch;
  requests: Request[];
} {
  const requests: Request[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    requests.push(request.clone());
    return handler(request);
  };
  return { fetch: fetchImpl, requests };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Every message, stack and cause in an error chain, as one string. */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 10; depth += 1) {
    if (current instanceof Error) {
      parts.push(current.name, current.message, current.stack ?? "", JSON.stringify(current));
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join("\n");
}

/** Runs `action` and returns what it threw; fails the test when it does not throw. */
export async function caught(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error("expected the action to throw");
}

/** `evse` + 26 Crockford characters built from a number, for unit fixtures. */
export function evseId(n: number): string {
  return `evse01H${String(n).padStart(23, "0")}`;
}

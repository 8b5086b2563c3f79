/**
 * Why a request got no answer, in words a person can act on, with the system's code: the host
 * it went to and the cause (connection refused, DNS, TLS, reset, timeout). Never a header, a
 * query string, a token or a secret: only the error's codes and the URL's host.
 */

const PLAIN: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed while sending",
  ETIMEDOUT: "connection timed out",
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "host unreachable",
  ENOTFOUND: "DNS: host name not found",
  EAI_AGAIN: "DNS: lookup failed for now",
  EAI_FAIL: "DNS: lookup failed",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed by the other side",
  UND_ERR_HEADERS_TIMEOUT: "no answer in time",
  UND_ERR_BODY_TIMEOUT: "the answer stalled",
};

const TLS_CODE =
  /^(ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|EPROTO$|HOSTNAME_MISMATCH)/;

/** The innermost error with a `code` in a fetch failure's cause chain (AggregateErrors too). */
function innermostCoded(error: unknown, depth = 0): { code: string; message: string } | undefined {
  if (typeof error !== "object" || error === null || depth > 8) return undefined;
  const inner =
    innermostCoded((error as { cause?: unknown }).cause, depth + 1) ??
    ((error as { errors?: unknown[] }).errors ?? [])
      .map((each) => innermostCoded(each, depth + 1))
      .find((found) => found !== undefined);
  if (inner) return inner;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    const message = error instanceof Error ? error.message : "";
    return { code, message };
  }
  return undefined;
}

/** e.g. `connection refused (ECONNREFUSED)`, `TLS: wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)`. */
export function networkFailureReason(error: unknown): string {
  const found = innermostCoded(error);
  if (found === undefined) {
    let innermost: unknown = error;
    while (innermost instanceof Error && innermost.cause instanceof Error) {
      innermost = innermost.cause;
    }
    const message = firstLine(innermost instanceof Error ? innermost.message : String(innermost));
    return message === "fetch failed" || message === "" ? "no answer (network error)" : message;
  }
  const { code, message } = found;
  if (PLAIN[code]) return `${PLAIN[code]} (${code})`;
  if (TLS_CODE.test(code)) {
    // OpenSSL's `<id>:error:<code>:<library>:<function>:<reason>:<file>:<line>:`: the reason.
    const reason = /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):/.exec(message)?.[1];
    return `TLS: ${reason ?? (firstLine(message) || "handshake failed")} (${code})`;
  }
  return `${firstLine(message) || "network error"} (${code})`;
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? "").trim();
}

/** `api.ev.energy:443`: the host and port a URL reaches, nothing else of it. */
export function hostOf(url: URL | string): string {
  const parsed = typeof url === "string" ? new URL(url) : url;
  const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  return `${parsed.hostname}:${port}`;
}

/**
 * Where credentials and tokens may be sent: over https, or over plain http only to this
 * machine's loopback interface (the local simulator), where nothing crosses a network.
 */
import { z } from "zod";

// localhost, 127.0.0.0/8, and ::1 as URL.hostname writes it. Not *.localhost: whether the
// system's resolver keeps those on this machine depends on its configuration.
const LOOPBACK_HOSTNAME = /^(?:localhost|127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}|\[::1\])$/i;

/** Whether a host name (without port) is this machine's loopback interface. */
export function isLoopbackHostname(hostname: string): boolean {
  return LOOPBACK_HOSTNAME.test(hostname);
}

/** Whether a URL is https, or http to a loopback host. */
export function isSecureUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHostname(url.hostname))
  );
}

/** An https URL, or an http URL to a loopback host. */
export const secureUrl = (error: string) => z.string().refine(isSecureUrl, { error });

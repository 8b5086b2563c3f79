/**
 * The API's routes, matched on the stage-less path and method of an API Gateway proxy event.
 * The OpenAPI document lists exactly these (a test holds them together).
 */
export const ROUTES = [
  { name: "createRequest", method: "POST", path: "/decommission-requests" },
  { name: "listRequests", method: "GET", path: "/decommission-requests" },
  { name: "getRequest", method: "GET", path: "/decommission-requests/{id}" },
  { name: "approveRequest", method: "POST", path: "/decommission-requests/{id}/approve" },
  { name: "rejectRequest", method: "POST", path: "/decommission-requests/{id}/reject" },
  { name: "cancelRequest", method: "POST", path: "/decommission-requests/{id}/cancel" },
  { name: "listEvses", method: "GET", path: "/evses" },
  { name: "getEvse", method: "GET", path: "/evses/{id}" },
  { name: "evseHistory", method: "GET", path: "/evses/{id}/history" },
  { name: "evseAvailability", method: "GET", path: "/evses/{id}/availability" },
  { name: "fleetSnapshot", method: "GET", path: "/fleet" },
  { name: "fleetAvailability", method: "GET", path: "/fleet/availability" },
] as const;

export type RouteName = (typeof ROUTES)[number]["name"];

export type RouteMatch =
  | { kind: "route"; name: RouteName; id: string | undefined }
  | { kind: "method-not-allowed"; allow: string[] }
  | { kind: "not-found" };

const COMPILED = ROUTES.map((route) => ({
  ...route,
  pattern: new RegExp(`^${route.path.replace("{id}", "([^/]+)")}$`),
}));

export function matchRoute(method: string, path: string): RouteMatch {
  // One trailing slash is tolerated; anything else must match exactly.
  const normalised = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  const allow: string[] = [];
  for (const route of COMPILED) {
    const match = route.pattern.exec(normalised);
    if (!match) continue;
    if (route.method === method) return { kind: "route", name: route.name, id: match[1] };
    allow.push(route.method);
  }
  return allow.length > 0 ? { kind: "method-not-allowed", allow } : { kind: "not-found" };
}

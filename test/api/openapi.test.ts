import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { matchRoute, ROUTES } from "../../functions/api/routes.js";
import { OPENAPI_PATH, renderOpenApi } from "../../scripts/openapi.js";

/** The paths and methods of an OpenAPI YAML file, read line by line (no YAML library here). */
function documentedOperations(
  yaml: string,
): Array<{ method: string; path: string; operationId: string }> {
  const operations: Array<{ method: string; path: string; operationId: string }> = [];
  let inPaths = false;
  let path: string | undefined;
  let method: string | undefined;
  for (const line of yaml.split("\n")) {
    if (/^\S/.test(line)) inPaths = line === "paths:";
    if (!inPaths) continue;
    const pathMatch = /^ {2}"?(\/[^":]*)"?:$/.exec(line);
    if (pathMatch) path = pathMatch[1];
    const methodMatch = /^ {4}(get|post|put|patch|delete):$/.exec(line);
    if (methodMatch) method = methodMatch[1];
    const idMatch = /^ {6}operationId: (\S+)$/.exec(line);
    if (idMatch && path && method) {
      operations.push({ method: method.toUpperCase(), path, operationId: idMatch[1] ?? "" });
    }
  }
  return operations;
}

describe("docs/openapi.yaml", () => {
  it("is what scripts/openapi.ts generates from the current code (run it after API changes)", async () => {
    expect(await readFile(OPENAPI_PATH, "utf8")).toBe(renderOpenApi());
  });

  it("documents exactly the router's routes, each reaching the operation it names", async () => {
    const documented = documentedOperations(await readFile(OPENAPI_PATH, "utf8"));
    expect(documented.map(({ method, path }) => `${method} ${path}`).sort()).toEqual(
      ROUTES.map(({ method, path }) => `${method} ${path}`).sort(),
    );
    for (const operation of documented) {
      const concrete = operation.path.replace("{id}", "dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ");
      expect(matchRoute(operation.method, concrete)).toMatchObject({
        kind: "route",
        name: operation.operationId,
      });
    }
  });
});

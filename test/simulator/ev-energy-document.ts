/**
 * ev.energy's published OpenAPI document (`shared/ev-energy/openapi-v2.yaml`, beside the
 * repository), read at test time and never copied into it, with a JSON Schema 2020-12 validator
 * (OpenAPI 3.1's dialect) over its schemas and responses.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";

const REPOSITORY = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Where the document may be: EV_ENERGY_OPENAPI, then shared/ beside the repository. */
export function documentCandidates(env = process.env): string[] {
  return [
    ...(env.EV_ENERGY_OPENAPI ? [env.EV_ENERGY_OPENAPI] : []),
    resolve(REPOSITORY, "../shared/ev-energy/openapi-v2.yaml"),
    // A clone elsewhere (a temporary folder) still finds the workplace's shared folder.
    "/work/shared/ev-energy/openapi-v2.yaml",
  ];
}

type Json = Record<string, unknown>;

export interface DocumentedResponse {
  description?: string;
  headers?: Record<string, { schema?: Json; $ref?: string }>;
  content?: Record<string, { schema?: Json }>;
}

export interface Verdict {
  ok: boolean;
  problems: string[];
}

export class EvEnergyDocument {
  readonly document: Json;
  readonly #ajv: Ajv2020;
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor(document: Json) {
    this.document = document;
    // OpenAPI's own keywords (example, discriminator, x-…) are annotations here.
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats.default(this.#ajv);
    for (const format of ["double", "float", "int32", "int64", "decimal"]) {
      this.#ajv.addFormat(format, true);
    }
    this.#ajv.addSchema({ $id: "ev-energy", components: document.components }, "ev-energy");
  }

  static load(env = process.env): EvEnergyDocument {
    const found = documentCandidates(env).find((path) => existsSync(path));
    if (found === undefined) {
      throw new Error(
        `ev.energy's OpenAPI document not found; looked at ${documentCandidates(env).join(", ")} (set EV_ENERGY_OPENAPI)`,
      );
    }
    return new EvEnergyDocument(parse(readFileSync(found, "utf8")) as Json);
  }

  /** `$ref: '#/components/…'` → the object it names. */
  resolve<T>(value: T | { $ref: string }): T {
    let current: unknown = value;
    for (let depth = 0; depth < 10; depth++) {
      const ref = (current as { $ref?: unknown } | undefined)?.$ref;
      if (typeof ref !== "string") return current as T;
      current = ref
        .replace(/^#\//, "")
        .split("/")
        .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], this.document);
    }
    throw new Error("$ref chain too deep");
  }

  /** The documented response of `method path` (a path of the document, e.g. `/evses/{evse_id}`). */
  response(method: string, path: string, status: number): DocumentedResponse | undefined {
    const operation = (this.document.paths as Json)?.[path] as Json | undefined;
    const documented = (operation?.[method.toLowerCase()] as Json | undefined)?.responses as
      | Json
      | undefined;
    const response = documented?.[String(status)];
    return response === undefined ? undefined : this.resolve<DocumentedResponse>(response as Json);
  }

  /** Validates `value` against one of the document's schemas (its `$ref`s resolve in it). */
  validate(schema: Json, value: unknown): Verdict {
    const key = JSON.stringify(schema);
    let validate = this.#compiled.get(key);
    if (validate === undefined) {
      validate = this.#ajv.compile(rebase(schema) as Json);
      this.#compiled.set(key, validate);
    }
    const ok = validate(value) as boolean;
    return { ok, problems: ok ? [] : describe(validate.errors ?? []) };
  }

  /** The OAuth client-credentials flow the document declares (token URL and scopes). */
  clientCredentials(): { tokenUrl: string; scopes: string[] } {
    const schemes = (this.document.components as Json).securitySchemes as Json;
    const flow = ((schemes.oauth2 as Json).flows as Json).clientCredentials as Json;
    return {
      tokenUrl: String(flow.tokenUrl),
      scopes: Object.keys(flow.scopes as Json),
    };
  }
}

/** A schema taken out of the document, its local `$ref`s pointed back into the document. */
function rebase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebase);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === "$ref" && typeof inner === "string" && inner.startsWith("#/")
        ? `ev-energy${inner}`
        : rebase(inner),
    ]),
  );
}

function describe(errors: ErrorObject[]): string[] {
  return errors.map(
    (error) => `${error.instancePath || "(root)"} ${error.message ?? error.keyword}`,
  );
}

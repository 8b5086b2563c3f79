/**
 * Per-deployer stage settings outside committed files, in CDK's order of precedence (later
 * wins): the schema's defaults, the committed stage in cdk.json (`context.stages.<stage>`), the
 * git-ignored `cdk.context.local.json` of this checkout, then `-c stages.<stage>.<path>=<value>`
 * on the command line. Each layer is a JSON merge patch (RFC 7396) of the one below: objects
 * merge key by key, any other value (a list too) replaces, `null` removes a setting so that its
 * default applies. The result is validated by the same schema as cdk.json's stages.
 */
import { existsSync, readFileSync } from "node:fs";

/** The file a checkout keeps its deployer's settings in; git-ignored. */
export const LOCAL_SETTINGS_FILE = "cdk.context.local.json";

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };
type JsonObject = { [key: string]: JsonValue };

/** A local settings file, read and checked for shape (its values are the schema's to judge). */
export interface LocalSettingsFile {
  /** As named in errors: the path it was read from. */
  readonly name: string;
  /** A merge patch per stage name. */
  readonly stages: Readonly<Record<string, JsonValue>>;
}

/** One `-c stages.<stage>.<path>=<value>`. */
export interface ContextOverride {
  readonly stage: string;
  /** The setting's path below the stage, e.g. ["monitoring", "alarmEmail"]. */
  readonly path: readonly string[];
  /** As given: the CDK CLI passes every `-c` value as text. */
  readonly value: unknown;
}

/** A local layer that cannot be read: the message names the file (or key) and the path. */
export class LocalSettingsError extends Error {
  override readonly name = "LocalSettingsError";
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads `path` if it exists (undefined if not).
 * 1. It must be JSON, an object whose only key is `stages`.
 * 2. `stages` must map stage names to objects (or null, which removes that stage's settings).
 * Anything else throws a LocalSettingsError naming the file and the offending path.
 */
export function readLocalSettings(path: string): LocalSettingsFile | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new LocalSettingsError(
      `${path}: not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  return localSettingsFrom(path, parsed);
}

/** Checks the shape of a local settings document (see readLocalSettings). */
export function localSettingsFrom(name: string, document: unknown): LocalSettingsFile {
  if (!isJsonObject(document)) {
    throw new LocalSettingsError(
      `${name}: expected an object such as {"stages": {"dev": {…settings}}}`,
    );
  }
  for (const key of Object.keys(document)) {
    if (key !== "stages") {
      throw new LocalSettingsError(
        `${name}: ${key}: unknown key (the file holds only "stages"; choose the stage with -c stage=<name>)`,
      );
    }
  }
  const stages = document.stages;
  if (stages === undefined) return { name, stages: {} };
  if (!isJsonObject(stages)) {
    throw new LocalSettingsError(`${name}: stages: expected an object of stages`);
  }
  for (const [stage, settings] of Object.entries(stages)) {
    if (settings !== null && !isJsonObject(settings)) {
      throw new LocalSettingsError(
        `${name}: stages.${stage}: expected an object of settings (or null)`,
      );
    }
  }
  return { name, stages };
}

const OVERRIDE_KEY = /^stages\.([^.]+)\.(.+)$/;

/** The `stages.<stage>.<path>` keys of the context (the CDK CLI's `-c`), in key order. */
export function contextOverrides(context: Readonly<Record<string, unknown>>): ContextOverride[] {
  return Object.entries(context).flatMap(([key, value]) => {
    const match = OVERRIDE_KEY.exec(key);
    if (!match?.[1] || !match[2]) return [];
    return [{ stage: match[1], path: match[2].split("."), value }];
  });
}

/**
 * A `-c` value: JSON when it reads as JSON (numbers, true/false, null, "quoted text", lists,
 * objects), otherwise the text itself (an e-mail address, a name).
 */
export function parseOverrideValue(value: unknown): JsonValue {
  if (typeof value !== "string") return value as JsonValue;
  try {
    return JSON.parse(value) as JsonValue;
  } catch {
    return value;
  }
}

/** `value` at `path` as a merge patch: {"a": {"b": value}}. */
export function patchAt(path: readonly string[], value: JsonValue): JsonValue {
  return path.reduceRight<JsonValue>((inner, key) => ({ [key]: inner }), value);
}

/** RFC 7396: `patch` applied to `target`; neither is modified. */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue | undefined {
  if (!isJsonObject(patch)) return patch;
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      const merged = mergePatch(result[key], value);
      if (merged !== undefined) result[key] = merged;
    }
  }
  return result;
}

/** Whether `patch` sets a value at `path` or at a part of it (a whole section, say). */
export function patchSets(patch: JsonValue | undefined, path: readonly PropertyKey[]): boolean {
  let node: JsonValue | undefined = patch;
  for (const key of path) {
    if (!isJsonObject(node)) return node !== undefined;
    node = node[String(key)];
  }
  return node !== undefined;
}

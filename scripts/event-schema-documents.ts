import { z } from "zod";
import { CHANGE_EVENT_SCHEMAS, FLEET_EVENT_SCHEMAS } from "../functions/core/event-schemas.js";

/** File name → JSON Schema text for each change and fleet event's `detail`. */
export function eventSchemaDocuments(): Record<string, string> {
  return Object.fromEntries(
    Object.entries({ ...CHANGE_EVENT_SCHEMAS, ...FLEET_EVENT_SCHEMAS }).map(([type, schema]) => {
      const file = `${type.toLowerCase().replaceAll(" ", "-")}.schema.json`;
      const document = {
        title: `${type} (detail)`,
        ...z.toJSONSchema(schema, { target: "draft-2020-12", io: "output" }),
      };
      return [file, `${JSON.stringify(document, null, 2)}\n`];
    }),
  );
}

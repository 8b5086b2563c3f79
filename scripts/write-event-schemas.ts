/**
 * Writes docs/events/<detail-type>.schema.json from the zod schemas the tests validate published
 * events against, so the documented contract cannot drift from the code.
 *   npm run docs:schemas
 */
import { writeFile } from "node:fs/promises";
import { eventSchemaDocuments } from "./event-schema-documents.js";

for (const [file, document] of Object.entries(eventSchemaDocuments())) {
  await writeFile(new URL(`../docs/events/${file}`, import.meta.url), document);
  console.log(`wrote docs/events/${file}`);
}

// The rehearsal's stand-in for the Lambda Node.js runtime, run as its own Node 24 process per
// function (see lambda-runner.ts). It loads the handler as the runtime does (`_HANDLER` is
// `file.export`, the file found in LAMBDA_TASK_ROOT as .js, .mjs or .cjs), at start, so a
// module that fails at load (a missing setting) fails the first invocation as an init error.
// Then it runs one invocation at a time, each with a Lambda-like context whose
// getRemainingTimeInMillis counts down to the deadline the parent sets and enforces.
// Plain JavaScript: it runs on the bare Node.js, without tsx.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const send = (message) =>
  new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send(message, () => resolve());
  });

function describe(error) {
  if (error instanceof Error) {
    return { errorType: error.name, errorMessage: error.message, stack: error.stack?.split("\n") };
  }
  return { errorType: "Error", errorMessage: String(error) };
}

async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT ?? "";
  const spec = process.env._HANDLER ?? "";
  const dot = spec.lastIndexOf(".");
  const [file, name] = [spec.slice(0, dot), spec.slice(dot + 1)];
  const path = [".js", ".mjs", ".cjs"].map((ext) => join(root, file + ext)).find(existsSync);
  if (path === undefined) throw new Error(`Runtime.ImportModuleError: no ${file} in ${root}`);
  const module = await import(pathToFileURL(path).href);
  const handler = module[name] ?? module.default?.[name];
  if (typeof handler !== "function") {
    throw new Error(`Runtime.HandlerNotFound: ${spec} is not a function`);
  }
  return handler;
}

let handler;
try {
  handler = await loadHandler();
} catch (error) {
  await send({ kind: "init-error", error: describe(error) });
  process.exit(1);
}

process.on("message", async ({ id, event, context: fields }) => {
  process.env._X_AMZN_TRACE_ID = fields.traceId;
  const context = {
    ...fields,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, fields.deadlineMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    const result = await handler(event, context);
    // As the runtime does: the result travels as JSON.
    await send({
      kind: "result",
      id,
      result: result === undefined ? null : JSON.parse(JSON.stringify(result)),
    });
  } catch (error) {
    await send({ kind: "error", id, error: describe(error) });
  }
});
await send({ kind: "ready" });

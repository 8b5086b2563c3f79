/**
 * Runs a deployed function as Lambda would: its bundle taken from the asset the emulator holds
 * (the function's code location, checked against its CodeSha256), its environment as
 * CloudFormation resolved it (read back from the emulator), the runtime's own variables and
 * per-function session credentials, in a Node 24 process of its own (lambda-bootstrap.mjs).
 * The process stays warm between invocations, one at a time, as an execution environment does;
 * an invocation that outlives the function's timeout is killed, and the next one starts cold.
 *
 * The only thing added to the environment is AWS_ENDPOINT_URL, the call recorder in front of
 * the emulator: the SDK clients then send every AWS call there.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, type WriteStream, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GetFunctionCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { unzipSync } from "fflate";
import { LAMBDA_RUNTIME } from "../../infra/constructs/lambda-function.js";
import { EMULATED, type Moto } from "./moto.js";

const BOOTSTRAP = fileURLToPath(new URL("./lambda-bootstrap.mjs", import.meta.url));

/** The identity a function's calls carry: its role's session, as Lambda would assume it. */
export interface Caller {
  readonly functionName: string;
  readonly functionArn: string;
  readonly roleArn: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<function>`. */
  readonly sessionArn: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
}

export interface DeployedFunction {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly roleArn: string;
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly codeDirectory: string;
  readonly caller: Caller;
}

export interface Invocation {
  readonly requestId: string;
  readonly durationMs: number;
  /** Present when the handler returned. */
  readonly result?: unknown;
  /** Present when it threw, failed to load, or timed out. */
  readonly error?: { errorType: string; errorMessage: string };
}

/** Reads a function's configuration and code back from the emulator. */
export async function loadFunction(
  moto: Moto,
  logicalId: string,
  physicalName: string,
  assetBucket: string,
  workDir: string,
): Promise<DeployedFunction> {
  const found = await new LambdaClient(moto.clientConfig).send(
    new GetFunctionCommand({ FunctionName: physicalName }),
  );
  const config = found.Configuration;
  if (config?.FunctionName === undefined || config.FunctionArn === undefined) {
    throw new Error(`the emulator has no function ${physicalName}`);
  }
  if (config.Runtime !== LAMBDA_RUNTIME.name) {
    throw new Error(`${physicalName} runs ${config.Runtime}, not ${LAMBDA_RUNTIME.name}`);
  }
  const major = LAMBDA_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, "$1");
  if (process.versions.node.split(".")[0] !== major) {
    throw new Error(
      `the rehearsal runs on Node.js ${process.versions.node}, the functions on ${LAMBDA_RUNTIME.name}: run it through npm (npm run rehearse), which puts the node dev dependency first`,
    );
  }
  // moto's code location names the S3 key the function was created from, in the asset bucket.
  const key = new URL(found.Code?.Location ?? "").pathname.split("/").pop() ?? "";
  const object = await new S3Client({ ...moto.clientConfig, forcePathStyle: true }).send(
    new GetObjectCommand({ Bucket: assetBucket, Key: key }),
  );
  const zip = await object.Body?.transformToByteArray();
  if (zip === undefined) throw new Error(`no code for ${physicalName} at ${assetBucket}/${key}`);
  const sha = createHash("sha256").update(zip).digest("base64");
  if (sha !== config.CodeSha256) {
    throw new Error(`${physicalName}: the asset's SHA-256 is not the function's CodeSha256`);
  }
  const codeDirectory = join(workDir, "functions", logicalId);
  for (const [path, bytes] of Object.entries(unzipSync(zip))) {
    if (path.endsWith("/")) continue;
    mkdirSync(dirname(join(codeDirectory, path)), { recursive: true });
    writeFileSync(join(codeDirectory, path), bytes);
  }
  const roleArn = config.Role ?? "";
  const roleName = roleArn.split("/").pop() ?? "";
  const digest = createHash("sha256").update(config.FunctionName).digest("hex").toUpperCase();
  return {
    logicalId,
    name: config.FunctionName,
    arn: config.FunctionArn,
    roleArn,
    handler: config.Handler ?? "index.handler",
    timeoutSeconds: config.Timeout ?? 3,
    memoryMb: config.MemorySize ?? 128,
    environment: config.Environment?.Variables ?? {},
    codeDirectory,
    caller: {
      functionName: config.FunctionName,
      functionArn: config.FunctionArn,
      roleArn,
      sessionArn: `arn:${EMULATED.partition}:sts::${EMULATED.account}:assumed-role/${roleName}/${config.FunctionName}`,
      // Distinct per function, so the recorder knows whose call it sees.
      accessKeyId: `ASIA${digest
        .replace(/[^A-Z2-7]/g, "")
        .slice(0, 16)
        .padEnd(16, "Q")}`,
      secretAccessKey: randomBytes(20).toString("base64"),
      sessionToken: randomBytes(32).toString("base64"),
    },
  };
}

/** One function's execution environment: a warm Node 24 process, one invocation at a time. */
export class LambdaEnvironment {
  #child: ChildProcess | undefined;
  #ready: Promise<void> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #log: WriteStream;
  #pending = new Map<string, (message: ChildMessage) => void>();
  #initError: { errorType: string; errorMessage: string } | undefined;
  /** Invocations and cold starts so far. */
  invocations = 0;
  coldStarts = 0;

  constructor(
    readonly fn: DeployedFunction,
    private readonly endpoint: string,
    logDirectory: string,
  ) {
    mkdirSync(logDirectory, { recursive: true });
    this.#log = createWriteStream(join(logDirectory, `${fn.logicalId}.log`), { flags: "a" });
  }

  /** Invokes the handler with `event`; never throws for the function's own failures. */
  invoke(event: unknown): Promise<Invocation> {
    const run = this.#queue.then(() => this.#invoke(event));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async stop(): Promise<void> {
    this.#kill();
    await new Promise<void>((resolve) => this.#log.end(resolve));
  }

  #environment(): Record<string, string> {
    const fn = this.fn;
    const region = EMULATED.region;
    return {
      ...fn.environment,
      // What the Lambda runtime sets; a function's own variables cannot override these.
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `rehearsal/[$LATEST]${randomUUID().replaceAll("-", "")}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_LAMBDA_LOG_FORMAT: "JSON",
      AWS_EXECUTION_ENV: `AWS_Lambda_${LAMBDA_RUNTIME.name}`,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: fn.caller.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fn.caller.secretAccessKey,
      AWS_SESSION_TOKEN: fn.caller.sessionToken,
      LAMBDA_TASK_ROOT: fn.codeDirectory,
      LAMBDA_RUNTIME_DIR: dirname(BOOTSTRAP),
      _HANDLER: fn.handler,
      TZ: ":UTC",
      LANG: "en_US.UTF-8",
      PATH: "/usr/local/bin:/usr/bin:/bin",
      // The rehearsal's one addition: every SDK call goes to the recorder.
      AWS_ENDPOINT_URL: this.endpoint,
    };
  }

  #start(): Promise<void> {
    this.coldStarts++;
    this.#initError = undefined;
    // A bare Node: no tsx loader, nothing of the rehearsal's own environment.
    const child = spawn(process.execPath, [BOOTSTRAP], {
      env: this.#environment(),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      cwd: this.fn.codeDirectory,
    });
    this.#child = child;
    child.stdout?.pipe(this.#log, { end: false });
    child.stderr?.pipe(this.#log, { end: false });
    return new Promise<void>((resolve) => {
      child.on("message", (message: ChildMessage) => {
        if (message.kind === "ready") return resolve();
        if (message.kind === "init-error") {
          this.#initError = message.error;
          return resolve();
        }
        this.#pending.get(message.id)?.(message);
      });
      child.once("exit", (code, signal) => {
        if (this.#child === child) {
          this.#child = undefined;
          this.#ready = undefined;
        }
        this.#initError ??= {
          errorType: "Runtime.ExitError",
          errorMessage: `the process exited (${signal ?? code})`,
        };
        for (const settle of this.#pending.values()) {
          settle({ kind: "error", id: "", error: this.#initError });
        }
        this.#pending.clear();
        resolve();
      });
    });
  }

  #kill(): void {
    const child = this.#child;
    this.#child = undefined;
    this.#ready = undefined;
    if (child !== undefined && child.exitCode === null) child.kill("SIGKILL");
  }

  async #invoke(event: unknown): Promise<Invocation> {
    const fn = this.fn;
    const requestId = randomUUID();
    const started = Date.now();
    this.invocations++;
    this.#ready ??= this.#start();
    await this.#ready;
    if (this.#initError !== undefined || this.#child === undefined) {
      const error = this.#initError ?? { errorType: "Runtime.Unknown", errorMessage: "no process" };
      this.#kill();
      return { requestId, durationMs: Date.now() - started, error };
    }
    const deadlineMs = started + fn.timeoutSeconds * 1000;
    const context = {
      functionName: fn.name,
      functionVersion: "$LATEST",
      invokedFunctionArn: fn.arn,
      memoryLimitInMB: String(fn.memoryMb),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${fn.name}`,
      logStreamName: "rehearsal",
      deadlineMs,
      traceId: `Root=1-${Math.floor(started / 1000).toString(16)}-${randomBytes(12).toString("hex")};Parent=${randomBytes(8).toString("hex")};Sampled=0`,
    };
    const child = this.#child;
    const answer = await new Promise<ChildMessage>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        this.#kill();
        resolve({
          kind: "error",
          id: requestId,
          error: {
            errorType: "Sandbox.Timedout",
            errorMessage: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`,
          },
        });
      }, deadlineMs - Date.now());
      this.#pending.set(requestId, (message) => {
        clearTimeout(timer);
        this.#pending.delete(requestId);
        resolve(message);
      });
      child.send({ id: requestId, event, context });
    });
    const durationMs = Date.now() - started;
    if (answer.kind === "result") return { requestId, durationMs, result: answer.result };
    if (answer.kind === "error") return { requestId, durationMs, error: answer.error };
    return { requestId, durationMs, error: { errorType: "Runtime.Unknown", errorMessage: "?" } };
  }
}

type ChildMessage =
  | { kind: "ready" }
  | { kind: "init-error"; error: { errorType: string; errorMessage: string } }
  | { kind: "result"; id: string; result: unknown }
  | { kind: "error"; id: string; error: { errorType: string; errorMessage: string } };

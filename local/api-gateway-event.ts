/**
 * Builds the API Gateway REST proxy event the deployed API receives, so the local server and
 * tests call the handler exactly as Lambda does. `callerArn` fills the identity API Gateway
 * would have verified from a SigV4 signature.
 */
import { randomUUID } from "node:crypto";
import type { APIGatewayProxyEvent } from "aws-lambda";

export interface ProxyEventInput {
  method: string;
  /** The stage-less path, e.g. `/decommission-requests`. */
  path: string;
  /** Repeated names allowed. */
  query?: Array<[string, string]>;
  headers?: Array<[string, string]>;
  body?: string | Buffer | null;
  callerArn?: string | null;
  stage?: string;
  /**
   * What callers put before the API's paths: `/<stage>` on the execute-api URL (the default),
   * or "" behind a custom domain mapped at its root, as the local server is (its links, such
   * as `statusUrl` and `Location`, must resolve on it).
   */
  basePath?: string;
}

export function proxyEvent(input: ProxyEventInput): APIGatewayProxyEvent {
  // Maps, not object literals: a header or parameter may be called `__proto__` or `toString`.
  const group = (pairs: Array<[string, string]>) => {
    const grouped = new Map<string, string[]>();
    for (const [name, value] of pairs) grouped.set(name, [...(grouped.get(name) ?? []), value]);
    return grouped;
  };
  const headers = group(input.headers ?? []);
  const query = group(input.query ?? []);
  const multiHeaders = Object.fromEntries(headers);
  const multiQuery = Object.fromEntries(query);
  const last = (values: Map<string, string[]>) =>
    Object.fromEntries([...values].map(([name, list]) => [name, list.at(-1)]));
  const hasQuery = query.size > 0;
  const body = input.body ?? null;
  const stage = input.stage ?? "local";
  const callerArn = input.callerArn ?? null;
  const account = callerArn?.split(":")[4] ?? null;
  return {
    resource: "/{proxy+}",
    path: input.path,
    httpMethod: input.method,
    headers: last(headers),
    multiValueHeaders: multiHeaders,
    queryStringParameters: hasQuery ? last(query) : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: { proxy: input.path.replace(/^\//, "") },
    stageVariables: null,
    body: body === null ? null : Buffer.isBuffer(body) ? body.toString("base64") : body,
    isBase64Encoded: Buffer.isBuffer(body),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      authorizer: null,
      protocol: "HTTP/1.1",
      httpMethod: input.method,
      path: `${input.basePath ?? `/${stage}`}${input.path}`,
      stage,
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: "local",
      resourcePath: "/{proxy+}",
      identity: {
        accessKey: null,
        accountId: account,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: "127.0.0.1",
        user: null,
        userAgent: null,
        userArn: callerArn,
      },
    },
  };
}

// A local stand-in for the API Gateway HTTP API: each request becomes a payload-v2 event for the
// same Lambda handler that runs in AWS, and the handler's result becomes the response. As in AWS,
// the path is matched and handed over percent-decoded (`rawPath`, `pathParameters`), while
// `rawQueryString` is the query exactly as sent; the request signature is checked against these.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';

export type LambdaHttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

export interface Route {
  method: string;
  /** API Gateway route syntax: `/v1/users/{aor}/messages`. */
  path: string;
  handler: LambdaHttpHandler;
}

const MAX_BODY_BYTES = 1024 * 1024;
const TEXT_TYPES = /^(application\/(json|x-www-form-urlencoded|xml)|text\/)/i;

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const parameter = /^\{(\w+)\}$/.exec(segment)?.[1];
      if (parameter === undefined) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(parameter);
      return '([^/]+)';
    })
    .join('/');
  return { ...route, pattern: new RegExp(`^${source}$`), names };
}

export function createApiGateway(routes: Route[], onError: (error: unknown) => void): Server {
  const compiled = routes.map(compile);
  return createServer((request, response) => {
    handle(compiled, request, response).catch((error: unknown) => {
      onError(error);
      if (!response.headersSent)
        send(response, 500, { error: { code: 'internal', message: 'Internal error' } });
    });
  });
}

async function handle(
  routes: CompiledRoute[],
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://local');
  const path = decodedPath(url.pathname);
  const method = request.method ?? 'GET';
  const candidates = routes.filter((route) => route.pattern.test(path));
  const route = candidates.find((candidate) => candidate.method === method);
  if (route === undefined) {
    send(response, candidates.length > 0 ? 405 : 404, {
      message: candidates.length > 0 ? 'Method Not Allowed' : 'Not Found',
    });
    return;
  }
  const body = await readBody(request);
  if (body === undefined) {
    send(response, 413, { message: 'Request Entity Too Large' });
    return;
  }
  const match = route.pattern.exec(path);
  const pathParameters: Record<string, string> = {};
  route.names.forEach((name, index) => {
    pathParameters[name] = match?.[index + 1] ?? '';
  });
  const result = await route.handler(toEvent(request, url, path, route, pathParameters, body));
  if (typeof result === 'string') {
    send(response, 200, result);
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  response.writeHead(result.statusCode ?? 200, headers);
  response.end(
    result.body === undefined
      ? undefined
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'),
  );
}

/** API Gateway HTTP API decodes the path before routing; a malformed escape is left as it came. */
function decodedPath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

function toEvent(
  request: IncomingMessage,
  url: URL,
  path: string,
  route: CompiledRoute,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const isText = TEXT_TYPES.test(headers['content-type'] ?? 'application/json');
  const now = new Date();
  const routeKey = `${route.method} ${route.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(route.names.length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: route.method,
        path,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
}

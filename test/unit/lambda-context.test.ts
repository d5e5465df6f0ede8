// Every function's log lines carry the Lambda context (request id, cold start) and a correlation
// id; a 500's correlationId is the request id of the call (API Gateway's, which it also answers in
// `apigw-requestid`), so the caller's error leads to the log lines of that very invocation.
import type { Context } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { HttpEvent } from '../../functions/adapters/http.ts';
import { signRequest } from '../../shared/signature.ts';

const SECRET = 'lambda-context-test-secret';
let http: typeof import('../../functions/adapters/http.ts');
let observability: typeof import('../../functions/adapters/observability.ts');

beforeAll(async () => {
  // Module-scope configuration of the adapters (read once, as in Lambda); no call reaches a table.
  process.env.HOLDOVER_TABLE = 'lambda-context-test';
  process.env.HOLDOVER_SECRET = SECRET;
  process.env.AWS_REGION ??= 'eu-west-1';
  http = await import('../../functions/adapters/http.ts');
  observability = await import('../../functions/adapters/observability.ts');
});

afterEach(() => vi.restoreAllMocks());

function lambdaContext(awsRequestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'holdover-stats',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:holdover-stats',
    memoryLimitInMB: '256',
    awsRequestId,
    logGroupName: '/aws/lambda/holdover-stats',
    logStreamName: '2026/12/01/[$LATEST]abc',
    getRemainingTimeInMillis: () => 10_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function signedGet(path: string, requestId: string): HttpEvent {
  const now = new Date();
  return {
    version: '2.0',
    routeKey: `GET ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: signRequest(SECRET, { method: 'GET', path }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId,
      routeKey: `GET ${path}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
}

/** The JSON log lines written while `run` runs. */
async function logLinesOf(run: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  const written: string[] = [];
  // Powertools writes INFO to stdout and WARN/ERROR to stderr.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
  }
  await run();
  vi.restoreAllMocks();
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('Lambda context in the logs', () => {
  it('answers a failed call with 500 whose correlationId is the request id, as in its log lines', async () => {
    const route = http.authorizedRoute('stats', undefined, async () => {
      throw new Error('table unreachable (test)');
    });
    let answer: Awaited<ReturnType<typeof route>> | undefined;
    const lines = await logLinesOf(async () => {
      answer = await route(signedGet('/v1/stats', 'api-request-1'), lambdaContext('lambda-request-1'));
    });
    expect(answer?.statusCode).toBe(500);
    const body = JSON.parse(String(answer?.body)) as { error: { code: string; correlationId: string } };
    expect(body.error).toEqual({
      code: 'internal',
      message: 'Internal error',
      correlationId: 'api-request-1',
    });
    const failure = lines.find((line) => line.message === 'request failed');
    expect(failure).toMatchObject({
      level: 'ERROR',
      correlationId: 'api-request-1',
      correlation_id: 'api-request-1',
      function_request_id: 'lambda-request-1',
      function_name: 'holdover-stats',
      service: 'holdover',
    });
    expect(typeof failure?.cold_start).toBe('boolean');
    // The error's text is logged, never answered.
    expect(String(answer?.body)).not.toContain('table unreachable');
  });

  it('marks only the first invocation of the process as a cold start', async () => {
    const first = await logLinesOf(async () => {
      observability.startInvocation(lambdaContext('lambda-request-2'));
      observability.logger.info('first');
    });
    const second = await logLinesOf(async () => {
      observability.startInvocation(lambdaContext('lambda-request-3'));
      observability.logger.info('second');
    });
    expect(first.find((line) => line.message === 'first')).toMatchObject({
      function_request_id: 'lambda-request-2',
      correlation_id: 'lambda-request-2',
    });
    expect(second.find((line) => line.message === 'second')).toMatchObject({
      function_request_id: 'lambda-request-3',
      correlation_id: 'lambda-request-3',
      cold_start: false,
    });
  });

  it('gives a correlation id without a Lambda context too (the local runtime)', async () => {
    const lines = await logLinesOf(async () => {
      expect(observability.startInvocation(undefined, 'local-request-1')).toBe('local-request-1');
      observability.logger.info('local');
    });
    const line = lines.find((entry) => entry.message === 'local');
    expect(line?.correlation_id).toBe('local-request-1');
  });
});

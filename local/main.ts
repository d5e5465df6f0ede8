// `npm start`: the whole system on one machine with no AWS account (DESIGN.md "Local run").
// Stand-ins for DynamoDB, SQS and SES; the same Lambda handlers behind a local API Gateway;
// the SIP edge as its own process, as on Fargate.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createApiGateway, type Route } from './api-gateway.ts';
import { type LocalConfig, loadLocalConfig, type RuntimeFile, runtimeFilePath } from './config.ts';
import { assertPortFree, httpOk, runningChildren, StartError, startChild, stopChild } from './processes.ts';
import { pollQueue, type QueuePoller } from './queue-poller.ts';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  provisionQueues,
  provisionTable,
  sqsClient,
  startDynamoDb,
  startSes,
  startSqs,
} from './stand-ins.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
let apiServer: Server | undefined;
const pollers: QueuePoller[] = [];
let stopping = false;

function progress(line: string): void {
  process.stdout.write(`holdover: ${line}\n`);
}

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await work();
  progress(`${label} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  return result;
}

async function main(): Promise<void> {
  const config = loadLocalConfig();
  const logDir = join(config.dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  progress(`starting; data in ${config.dataDir}, child logs in ${logDir}`);

  await assertPortFree('127.0.0.1', config.apiPort, 'PORT');
  await assertPortFree('127.0.0.1', config.edgeHttpPort, 'EDGE_HTTP_PORT');
  await assertPortFree('127.0.0.1', config.dynamodbPort, 'DYNAMODB_PORT');
  await assertPortFree('127.0.0.1', config.sqsPort, 'SQS_PORT');
  await assertPortFree('127.0.0.1', config.sesPort, 'SES_PORT');
  await assertPortFree(config.sipHost, config.sipPort, 'SIP_PORT', ['tcp', 'udp']);

  // A part that dies later takes the whole system down with a message naming it.
  const track = (label: string) => (child: ChildProcess) => {
    watch(child, label);
    return child;
  };
  await Promise.all([
    timed(`DynamoDB Local ready on :${config.dynamodbPort}`, () =>
      startDynamoDb(config.dynamodbPort, config.dataDir, logDir),
    ).then(track('DynamoDB Local')),
    timed(`SQS stand-in (fauxqs) ready on :${config.sqsPort}`, () => startSqs(config.sqsPort, logDir)).then(
      track('SQS stand-in'),
    ),
    timed(`SES stand-in ready on :${config.sesPort}`, () => startSes(config.sesPort, logDir)).then((ses) => {
      // Like SES in AWS, its outage only delays email: the jobs retry. Restarted after a pause.
      supervise('SES stand-in', ses, () => startSes(config.sesPort, logDir), {
        delayMs: 5000,
        onRestart: (next) => (pids.ses = next.pid),
      });
      pids.ses = ses.pid;
      return ses;
    }),
  ]);

  const table = await provisionTable(config.dynamodbPort, config.tableName);
  progress(`table ${config.tableName} ${table === 'created' ? 'created' : 'found (held messages kept)'}`);
  const queues = await provisionQueues(config.sqsPort);
  progress('queues ready: holdover-delivery, holdover-expired (each with a DLQ)');

  configureFunctionEnvironment(config, queues.delivery.url, queues.expired.url);
  let ready = false;
  const routes = await functionRoutes(config, () => ready);
  apiServer = createApiGateway(routes, (error) => progress(`API error: ${String(error)}`));
  await new Promise<void>((resolveListen, reject) => {
    apiServer?.once('error', reject);
    apiServer?.listen(config.apiPort, '127.0.0.1', resolveListen);
  });
  progress(`API ready on http://127.0.0.1:${config.apiPort}`);

  const startEdge = () =>
    startChild({
      name: 'edge',
      command: process.execPath,
      args: ['--import', pathToFileURL(require.resolve('tsx')).href, join(root, 'edge', 'main.ts')],
      env: {
        SIP_HOST: config.sipHost,
        SIP_PORT: String(config.sipPort),
        EDGE_HTTP_PORT: String(config.edgeHttpPort),
        HOLDOVER_API_URL: `http://127.0.0.1:${config.apiPort}`,
        HOLDOVER_SECRET: config.secret,
        HOLDOVER_DOMAINS: config.domains.join(','),
        ...(config.outboundProxy ? { OUTBOUND_PROXY: config.outboundProxy } : {}),
      },
      logDir,
      timeoutMs: 30_000,
      ready: () => httpOk(`http://127.0.0.1:${config.edgeHttpPort}/health`),
    });
  const edge = await timed(`SIP edge ready on ${config.sipHost}:${config.sipPort} (UDP, TCP)`, startEdge);
  supervise('SIP edge', edge, startEdge, { delayMs: 0, onRestart: (next) => (pids.edge = next.pid) });
  pids.edge = edge.pid;

  const deliver = await import('../functions/deliver.ts');
  pollers.push(
    pollQueue({
      client: sqsClient(config.sqsPort),
      queueUrl: queues.delivery.url,
      queueArn: queues.delivery.arn,
      handler: deliver.handler,
      onError: (error) => progress(`delivery queue poller: ${String(error)}`),
    }),
  );
  const email = await import('../functions/email.ts');
  pollers.push(
    pollQueue({
      client: sqsClient(config.sqsPort),
      queueUrl: queues.expired.url,
      queueArn: queues.expired.arn,
      handler: email.handler,
      onError: (error) => progress(`expired queue poller: ${String(error)}`),
    }),
  );
  const sweep = await import('../functions/sweep.ts');
  pollers.push(
    everyInterval(
      config.sweepIntervalMs,
      () => sweep.handler(),
      (error) => progress(`sweeper: ${String(error)}`),
    ),
  );
  progress(`workers running: delivery, email; sweeper every ${config.sweepIntervalMs / 1000}s`);

  writeRuntime(config);
  ready = true;
  progress(
    [
      'ready. Listening on:',
      `  SIP edge      ${config.sipHost}:${config.sipPort} UDP+TCP  (domains: ${config.domains.join(', ')})`,
      `  HTTP API      http://127.0.0.1:${config.apiPort}  (GET /v1/health)`,
      `  DynamoDB      http://127.0.0.1:${config.dynamodbPort}`,
      `  SQS           http://127.0.0.1:${config.sqsPort}`,
      `  SES (emails)  http://127.0.0.1:${config.sesPort}/`,
      '  CLI           npx holdover held sip:bob@example.com   |   npx holdover stats',
      'Ctrl-C stops everything.',
    ].join('\n'),
  );
}

/** The handlers read their configuration at module scope, as in Lambda: set it before importing. */
function configureFunctionEnvironment(
  config: LocalConfig,
  deliveryQueueUrl: string,
  expiredQueueUrl: string,
): void {
  Object.assign(process.env, {
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${config.dynamodbPort}`,
    AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${config.sqsPort}`,
    AWS_ENDPOINT_URL_SESV2: `http://127.0.0.1:${config.sesPort}`,
    HOLDOVER_TABLE: config.tableName,
    HOLDOVER_SECRET: config.secret,
    HOLDOVER_DOMAINS: config.domains.join(','),
    HOLDOVER_EXPIRE_AFTER: config.expireAfter,
    HOLDOVER_MAIL_FROM: config.mailFrom,
    HOLDOVER_DELIVERY_QUEUE_URL: deliveryQueueUrl,
    HOLDOVER_EDGE_URL: `http://127.0.0.1:${config.edgeHttpPort}`,
    ...(config.outboundProxy ? { OUTBOUND_PROXY: config.outboundProxy } : {}),
    HOLDOVER_EXPIRED_QUEUE_URL: expiredQueueUrl,
    POWERTOOLS_METRICS_NAMESPACE: 'Holdover',
  });
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
}

async function functionRoutes(config: LocalConfig, isReady: () => boolean): Promise<Route[]> {
  const [capture, users, stats, health, presence, settings, dead] = await Promise.all([
    import('../functions/capture.ts'),
    import('../functions/users.ts'),
    import('../functions/stats.ts'),
    import('../functions/health.ts'),
    import('../functions/presence.ts'),
    import('../functions/settings.ts'),
    import('../functions/dead.ts'),
  ]);
  const localHealth = async (event: APIGatewayProxyEventV2) => {
    if (!isReady()) return json(503, { status: 'starting' });
    const api = await health.handler(event);
    const edgeOk = await httpOk(`http://127.0.0.1:${config.edgeHttpPort}/health`).catch(() => false);
    const sesOk = await httpOk(`http://127.0.0.1:${config.sesPort}/health-check`).catch(() => false);
    const ok = api.statusCode === 200 && edgeOk && sesOk;
    return json(ok ? 200 : 503, {
      status: ok ? 'ok' : 'degraded',
      parts: {
        api: api.statusCode === 200 ? 'ok' : 'down',
        edge: edgeOk ? 'ok' : 'down',
        ses: sesOk ? 'ok' : 'down',
      },
    });
  };
  return [
    { method: 'GET', path: '/v1/health', handler: localHealth },
    { method: 'POST', path: '/v1/messages', handler: capture.handler },
    { method: 'GET', path: '/v1/users/{aor}/messages', handler: users.heldHandler },
    { method: 'GET', path: '/v1/users/{aor}/summary', handler: users.summaryHandler },
    { method: 'GET', path: '/v1/users/{aor}/settings', handler: settings.getHandler },
    { method: 'PUT', path: '/v1/users/{aor}/settings', handler: settings.putHandler },
    { method: 'POST', path: '/v1/presence', handler: presence.handler },
    { method: 'GET', path: '/v1/stats', handler: stats.handler },
    { method: 'GET', path: '/v1/dead', handler: dead.listHandler },
    { method: 'DELETE', path: '/v1/dead/{id}', handler: dead.purgeOneHandler },
    { method: 'DELETE', path: '/v1/dead', handler: dead.purgeAllHandler },
  ];
}

/** The local stand-in for the EventBridge schedule: runs `tick` every interval, never overlapping. */
function everyInterval(
  intervalMs: number,
  tick: () => Promise<unknown>,
  onError: (error: unknown) => void,
): QueuePoller {
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const schedule = () => {
    timer = setTimeout(() => {
      current = tick()
        .catch(onError)
        .finally(() => {
          if (running) schedule();
        });
    }, intervalMs);
  };
  schedule();
  return {
    stop: async () => {
      running = false;
      clearTimeout(timer);
      await current;
    },
  };
}

function json(statusCode: number, body: unknown) {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** Child processes an operator (or a test) may want to find. */
const pids: { edge?: number; ses?: number } = {};
let runtimeConfig: LocalConfig | undefined;

function writeRuntime(config: LocalConfig): void {
  runtimeConfig = config;
  const runtime: RuntimeFile = {
    apiUrl: `http://127.0.0.1:${config.apiPort}`,
    pid: process.pid,
    ...(pids.edge ? { edgePid: pids.edge } : {}),
    ...(pids.ses ? { sesPid: pids.ses } : {}),
    startedAt: new Date().toISOString(),
  };
  writeFileSync(runtimeFilePath(config.dataDir), JSON.stringify(runtime, null, 2));
}

/**
 * Restarts a part that dies, as ECS replaces a failed task: the edge keeps no messages and the SES
 * stand-in only delays email, so nothing is lost. Five deaths within a minute mean something is
 * wrong: stop everything.
 */
function supervise(
  label: string,
  first: ChildProcess,
  start: () => Promise<ChildProcess>,
  options: { delayMs: number; onRestart: (child: ChildProcess) => void },
): void {
  const deaths: number[] = [];
  const onExit = (child: ChildProcess) =>
    child.once('exit', (code, signal) => {
      if (stopping) return;
      deaths.push(Date.now());
      while ((deaths[0] ?? Date.now()) < Date.now() - 60_000) deaths.shift();
      if (deaths.length >= 5) {
        progress(`${label} died five times within a minute; shutting down. See its log in .holdover/logs.`);
        void shutdown(1);
        return;
      }
      const when = options.delayMs > 0 ? ` in ${options.delayMs / 1000}s` : '';
      progress(`${label} stopped unexpectedly (${signal ?? `exit code ${code}`}); restarting it${when}`);
      setTimeout(() => {
        if (stopping) return;
        start()
          .then((next) => {
            options.onRestart(next);
            if (runtimeConfig) writeRuntime(runtimeConfig);
            progress(`${label} ready again`);
            onExit(next);
          })
          .catch((error: unknown) => {
            progress(
              `${label} could not be restarted: ${error instanceof Error ? error.message : String(error)}`,
            );
            void shutdown(1);
          });
      }, options.delayMs);
    });
  onExit(first);
}

function watch(child: ChildProcess, label: string): void {
  child.once('exit', (code, signal) => {
    if (stopping) return;
    progress(
      `${label} stopped unexpectedly (${signal ?? `exit code ${code}`}); shutting down. See its log in .holdover/logs.`,
    );
    void shutdown(1);
  });
}

async function shutdown(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  progress('stopping…');
  await Promise.all(pollers.map((poller) => poller.stop()));
  apiServer?.close();
  apiServer?.closeAllConnections();
  // the edge first, so it stops taking MESSAGEs before the stores go away
  const edgeFirst = [...runningChildren].reverse();
  for (const child of edgeFirst) await stopChild(child);
  try {
    rmSync(runtimeFilePath(loadLocalConfig().dataDir), { force: true });
  } catch {
    // configuration was the reason we stopped; nothing to clean
  }
  progress('stopped');
  process.exit(exitCode);
}

process.once('SIGINT', () => void shutdown(0));
process.once('SIGTERM', () => void shutdown(0));
process.once('SIGHUP', () => void shutdown(0));
// However this process ends (an uncaught error included), its stand-ins and edge end with it.
process.once('exit', () => {
  for (const child of runningChildren) child.kill('SIGKILL');
});

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  progress(error instanceof StartError ? message : `could not start: ${message}`);
  void shutdown(1);
});

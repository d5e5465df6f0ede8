// `npm start`: the whole system on one machine with no AWS account (README "Run it on one machine").
// Stand-ins for DynamoDB, SQS and SES; the same Lambda handlers behind a local API Gateway;
// the SIP edge as its own process, as on Fargate.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DELIVERY_QUEUE, EXPIRED_QUEUE } from '../functions/adapters/queue-names.ts';
import { type FunctionEntry, HOLDOVER_FUNCTIONS } from '../infra/catalogue.ts';
import { createApiGateway, type LambdaHttpHandler, type Route } from './api-gateway.ts';
import {
  type LocalConfig,
  loadLocalConfig,
  type RuntimeFile,
  runtimeFilePath,
  secureDataDir,
} from './config.ts';
import {
  assertPortFree,
  httpOk,
  runningChildren,
  StartError,
  startChild,
  stopAllChildren,
} from './processes.ts';
import { pollQueue, type QueuePoller, sqsSource } from './queue-poller.ts';
import { SmtpListener } from './smtp.ts';
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
import { Supervisor } from './supervisor.ts';

// Everything this process and its children create (DynamoDB Local's data, logs, runtime.json) is
// for the owner only; the data directory itself is tightened at start (secureDataDir).
process.umask(0o077);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
let apiServer: Server | undefined;
/** The inbound SMTP listener (alerts from email), in this process like the API. */
let smtp: SmtpListener | undefined;
const pollers: QueuePoller[] = [];
let stopping = false;
/** Every child, each restarted with backoff when it dies (supervisor.ts). */
const parts: { dynamodb?: Supervisor; sqs?: Supervisor; ses?: Supervisor; edge?: Supervisor } = {};

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
  secureDataDir(config.dataDir);
  const logDir = join(config.dataDir, 'logs');
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  progress(`starting; data in ${config.dataDir}, child logs in ${logDir}`);

  await assertPortFree('127.0.0.1', config.apiPort, 'PORT');
  await assertPortFree('127.0.0.1', config.edgeHttpPort, 'EDGE_HTTP_PORT');
  if (config.store === 'dynamodb') await assertPortFree('127.0.0.1', config.dynamodbPort, 'DYNAMODB_PORT');
  if (config.store === 'dynamodb') await assertPortFree('127.0.0.1', config.sqsPort, 'SQS_PORT');
  await assertPortFree('127.0.0.1', config.sesPort, 'SES_PORT');
  await assertPortFree('127.0.0.1', config.smtpPort, 'SMTP_PORT');
  await assertPortFree(config.sipHost, config.sipPort, 'SIP_PORT', ['tcp', 'udp']);

  // Every part that dies is restarted with backoff, for as long as the system runs: none may stop
  // capture. A store that comes back is provisioned again (idempotent: the data is on disk, and
  // the SQS stand-in's queues are recreated with the same URLs).
  const supervise = (key: keyof typeof parts, supervisor: Supervisor) => {
    parts[key] = supervisor;
    return supervisor;
  };
  const options = (onStarted?: (child: ChildProcess) => void) => ({
    progress,
    onStarted: (child: ChildProcess) => {
      onStarted?.(child);
      if (runtimeConfig) writeRuntime(runtimeConfig);
    },
  });
  let table: 'created' | 'exists' | undefined;
  let store: 'created' | 'exists' | undefined;
  // DynamoDB Local (Java) only for HOLDOVER_STORE=dynamodb; the SQLite file needs no process
  const dynamodb =
    config.store === 'dynamodb'
      ? supervise(
          'dynamodb',
          new Supervisor(
            {
              label: 'DynamoDB Local',
              start: () => startDynamoDb(config.dynamodbPort, config.dataDir, logDir),
              afterStart: async () => {
                const outcome = await provisionTable(config.dynamodbPort, config.tableName);
                table ??= outcome;
              },
            },
            options((child) => (pids.dynamodb = child.pid)),
          ),
        )
      : undefined;
  let queues: Awaited<ReturnType<typeof provisionQueues>> | undefined;
  // the SQS stand-in only with DynamoDB Local: with SQLite the queues live in its file
  const sqs =
    config.store === 'dynamodb'
      ? supervise(
          'sqs',
          new Supervisor(
            {
              label: 'SQS stand-in',
              start: () => startSqs(config.sqsPort, logDir),
              afterStart: async () => {
                const provisioned = await provisionQueues(config.sqsPort);
                if (queues !== undefined && provisioned.delivery.url !== queues.delivery.url) {
                  progress(
                    `SQS stand-in came back with other queue URLs (${provisioned.delivery.url}); restart npm start`,
                  );
                }
                queues ??= provisioned;
              },
            },
            options((child) => (pids.sqs = child.pid)),
          ),
        )
      : undefined;
  const ses = supervise(
    'ses',
    new Supervisor(
      { label: 'SES stand-in', start: () => startSes(config.sesPort, logDir) },
      // Like SES in AWS, its outage only delays email (the jobs retry): restarted after a pause.
      { ...options((child) => (pids.ses = child.pid)), minDelayMs: 5000, maxDelayMs: 30_000 },
    ),
  );
  await Promise.all([
    dynamodb
      ? timed(`DynamoDB Local ready on :${config.dynamodbPort}`, () => dynamodb.start())
      : timed(`store: SQLite file ${config.sqlitePath}`, async () => {
          store = await openStore(config);
        }),
    sqs ? timed(`SQS stand-in (fauxqs) ready on :${config.sqsPort}`, () => sqs.start()) : Promise.resolve(),
    timed(`SES stand-in ready on :${config.sesPort}`, () => ses.start()),
  ]);
  const queueUrls = sqs
    ? queues
    : {
        delivery: { url: `sqlite:${DELIVERY_QUEUE}`, arn: `arn:holdover:sqlite:local:${DELIVERY_QUEUE}` },
        expired: { url: `sqlite:${EXPIRED_QUEUE}`, arn: `arn:holdover:sqlite:local:${EXPIRED_QUEUE}` },
      };
  if (queueUrls === undefined) throw new StartError('SQS stand-in started without its queues');
  if (dynamodb)
    progress(`table ${config.tableName} ${table === 'created' ? 'created' : 'found (held messages kept)'}`);
  else progress(`store ${store === 'created' ? 'created' : 'found (held messages kept)'}`);
  progress(
    `queues ready: holdover-delivery, holdover-expired (each with a DLQ${sqs ? '' : ', in the SQLite file'})`,
  );

  configureFunctionEnvironment(config, queueUrls.delivery.url, queueUrls.expired.url);
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
        // the edge's HTTP port (/deliver) is for the local API only, whatever SIP_HOST is
        EDGE_HTTP_HOST: '127.0.0.1',
        EDGE_HTTP_PORT: String(config.edgeHttpPort),
        HOLDOVER_API_URL: `http://127.0.0.1:${config.apiPort}`,
        HOLDOVER_SECRET: config.secret,
        HOLDOVER_DOMAINS: config.domains.join(','),
        ...(config.outboundProxy ? { OUTBOUND_PROXY: config.outboundProxy } : {}),
        ...config.edgeAuth,
      },
      logDir,
      timeoutMs: 30_000,
      ready: () => httpOk(`http://127.0.0.1:${config.edgeHttpPort}/health`),
    });
  const edge = supervise(
    'edge',
    new Supervisor(
      { label: 'SIP edge', start: startEdge },
      options((child) => (pids.edge = child.pid)),
    ),
  );
  await timed(`SIP edge ready on ${config.sipHost}:${config.sipPort} (UDP, TCP)`, () => edge.start());

  // the same SQS events as in AWS, from the SQS stand-in or from the SQLite file's queues
  const { localJobs } = await import('../functions/adapters/local-jobs.ts');
  const sourceOf = (queue: { url: string }, name: string) =>
    localJobs
      ? {
          receive: (max: number) => localJobs.receive(name, max, 1000),
          delete: async (receiptHandle: string) => localJobs.delete(receiptHandle),
        }
      : sqsSource(sqsClient(config.sqsPort), queue.url);
  const deliver = await import('../functions/deliver.ts');
  pollers.push(
    pollQueue({
      source: sourceOf(queueUrls.delivery, DELIVERY_QUEUE),
      queueArn: queueUrls.delivery.arn,
      handler: deliver.handler,
      onError: (error) => progress(`delivery queue poller: ${String(error)}`),
    }),
  );
  const email = await import('../functions/email.ts');
  pollers.push(
    pollQueue({
      source: sourceOf(queueUrls.expired, EXPIRED_QUEUE),
      queueArn: queueUrls.expired.arn,
      handler: email.handler,
      concurrency: 4,
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

  // the same use case as the AWS function (SES → S3 → functions/inbound-email.ts)
  const inbound = await import('../functions/inbound-email.ts');
  smtp = new SmtpListener(
    config.smtpPort,
    {
      isInbound: async (address) =>
        (await inbound.groupsAddressed(inbound.groupStore, [address])).found.length > 0,
      receive: inbound.receiveMail,
      onError: (error) => progress(`SMTP listener: ${String(error)}`),
    },
    progress,
  );
  await timed(`SMTP listener ready on 127.0.0.1:${config.smtpPort}`, () => (smtp as SmtpListener).start());

  writeRuntime(config);
  ready = true;
  progress(
    [
      'ready. Listening on:',
      `  SIP edge      ${config.sipHost}:${config.sipPort} UDP+TCP  (domains: ${config.domains.join(', ')})`,
      `  HTTP API      http://127.0.0.1:${config.apiPort}  (GET /v1/health)`,
      `  Web console   http://127.0.0.1:${config.apiPort}/  (sign in with a SIP address and password)`,
      `  Chat          http://127.0.0.1:${config.apiPort}/chat/<aor>  and  /chat.js  (public users and groups)`,
      config.store === 'dynamodb'
        ? `  DynamoDB      http://127.0.0.1:${config.dynamodbPort}`
        : `  Store         ${config.sqlitePath} (SQLite)`,
      config.store === 'dynamodb'
        ? `  SQS           http://127.0.0.1:${config.sqsPort}`
        : '  Queues        in the SQLite file',
      `  SES (emails)  http://127.0.0.1:${config.sesPort}/`,
      `  SMTP (alerts) 127.0.0.1:${config.smtpPort}  (mail to a group's inbound address)`,
      '  CLI           npx holdover held sip:bob@example.com   |   npx holdover stats',
      'Ctrl-C stops everything.',
    ].join('\n'),
  );
}

/** Opens (creates, migrates) the SQLite file before any handler does: a bad file stops the start. */
async function openStore(config: LocalConfig): Promise<'created' | 'exists'> {
  const { connect } = await import('../functions/adapters/sqlite/db.ts');
  const existed = existsSync(config.sqlitePath);
  try {
    connect(config.sqlitePath).close();
    return existed ? 'exists' : 'created';
  } catch (error) {
    throw new StartError(
      `cannot open the store ${config.sqlitePath}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
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
    // DynamoDB Local commits each request on its own (functions/adapters/store.ts)
    HOLDOVER_DYNAMODB_LOCAL: '1',
    AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${config.sqsPort}`,
    AWS_ENDPOINT_URL_SESV2: `http://127.0.0.1:${config.sesPort}`,
    HOLDOVER_STORE: config.store,
    HOLDOVER_TABLE: config.tableName,
    HOLDOVER_SQLITE_PATH: config.sqlitePath,
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

/**
 * The API's routes, from the catalogue (infra/catalogue.ts): each HTTP function's file and export,
 * as the construct deploys them; only health is wrapped, to add the local parts' states.
 */
async function functionRoutes(config: LocalConfig, isReady: () => boolean): Promise<Route[]> {
  const modules = new Map<string, Promise<Record<string, unknown>>>();
  const handlerOf = async (entry: FunctionEntry): Promise<LambdaHttpHandler> => {
    let module = modules.get(entry.entry);
    if (module === undefined) {
      module = import(pathToFileURL(join(root, entry.entry)).href);
      modules.set(entry.entry, module);
    }
    const handler = (await module)[entry.handler];
    if (!isHttpHandler(handler)) throw new Error(`${entry.entry} exports no function ${entry.handler}`);
    return handler;
  };
  const httpFunctions = HOLDOVER_FUNCTIONS.flatMap((entry) =>
    entry.trigger.kind === 'http' ? [{ entry, trigger: entry.trigger }] : [],
  );
  const routes = await Promise.all(
    httpFunctions.map(async ({ entry, trigger }) => ({
      method: trigger.method,
      path: trigger.path,
      handler: await handlerOf(entry),
    })),
  );
  const health = routes.find((route) => route.method === 'GET' && route.path === '/v1/health');
  if (health === undefined) throw new Error('infra/catalogue.ts declares no GET /v1/health');
  const apiHealth = health.handler;
  // 200 only while every part is up; else 503 naming what is down (capture needs api, dynamodb
  // and edge; sqs and ses down only delay delivery runs and email).
  const localHealth = async (event: APIGatewayProxyEventV2) => {
    if (!isReady()) return json(503, { status: 'starting' });
    const [api, edgeOk, sesOk] = await Promise.all([
      apiHealth(event),
      httpOk(`http://127.0.0.1:${config.edgeHttpPort}/health`).catch(() => false),
      httpOk(`http://127.0.0.1:${config.sesPort}/health-check`).catch(() => false),
    ]);
    const state = (up: boolean) => (up ? 'ok' : 'down');
    const apiUp = typeof api === 'object' && api.statusCode === 200;
    const storeUp = apiUp && (config.store === 'sqlite' || parts.dynamodb?.status === 'up');
    const partStates = {
      api: state(apiUp),
      [config.store]: state(storeUp),
      ...(config.store === 'dynamodb' ? { sqs: state(parts.sqs?.status === 'up') } : {}),
      ses: state(sesOk && parts.ses?.status === 'up'),
      edge: state(edgeOk && parts.edge?.status === 'up'),
      smtp: state(smtp?.listening === true),
    };
    const ok = Object.values(partStates).every((value) => value === 'ok');
    return json(ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', parts: partStates });
  };
  health.handler = localHealth;
  return routes;
}

function isHttpHandler(value: unknown): value is LambdaHttpHandler {
  return typeof value === 'function';
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
const pids: { edge?: number; ses?: number; dynamodb?: number; sqs?: number } = {};
let runtimeConfig: LocalConfig | undefined;

function writeRuntime(config: LocalConfig): void {
  if (stopping) return; // shutdown removes the file; a late restart must not write it back
  runtimeConfig = config;
  const runtime: RuntimeFile = {
    apiUrl: `http://127.0.0.1:${config.apiPort}`,
    pid: process.pid,
    ...(pids.edge ? { edgePid: pids.edge } : {}),
    ...(pids.ses ? { sesPid: pids.ses } : {}),
    ...(pids.dynamodb ? { dynamodbPid: pids.dynamodb } : {}),
    ...(pids.sqs ? { sqsPid: pids.sqs } : {}),
    startedAt: new Date().toISOString(),
  };
  writeFileSync(runtimeFilePath(config.dataDir), JSON.stringify(runtime, null, 2), { mode: 0o600 });
}

/**
 * Ctrl-C (SIGINT, to the whole process group in a terminal), SIGTERM or SIGHUP: stop taking work,
 * stop every child and await it (a restart under way included), remove runtime.json, exit 0.
 * Bounded: what does not end in time is killed, so the file never stays behind.
 */
async function shutdown(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  progress('stopping…');
  const deadline = setTimeout(() => finish(exitCode), 12_000);
  for (const part of Object.values(parts)) part.stop();
  try {
    await smtp?.stop();
    apiServer?.close();
    apiServer?.closeAllConnections();
    // jobs in flight come back after their visibility timeout; a message marked delivering is sent
    // again by the next run with the same Call-ID
    await Promise.all(pollers.map((poller) => poller.stop(2000)));
    await stopAllChildren(parts.edge?.child ? [parts.edge.child] : []);
  } catch (error) {
    progress(`while stopping: ${error instanceof Error ? error.message : String(error)}`);
  }
  clearTimeout(deadline);
  finish(exitCode);
}

function finish(exitCode: number): never {
  for (const child of runningChildren) child.kill('SIGKILL');
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
  // Ctrl-C in a terminal reaches the children too, and one that is starting may be seen to die
  // before our own SIGINT handler runs: give the signal a moment to arrive, then stop as asked.
  setTimeout(() => {
    if (stopping) return; // interrupted while starting: shutdown is under way
    const message = error instanceof Error ? error.message : String(error);
    progress(error instanceof StartError ? message : `could not start: ${message}`);
    void shutdown(1);
  }, 250);
});

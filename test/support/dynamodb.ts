// DynamoDB Local for integration tests: the same jar and provisioning as `npm start`, on a free
// port with its data in a temporary directory.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { stopChild } from '../../local/processes.ts';
import { dynamoClient, provisionTable, startDynamoDb } from '../../local/stand-ins.ts';
import { freePort } from './ports.ts';

export interface LocalDynamo {
  port: number;
  endpoint: string;
  client: DynamoDBDocumentClient;
  tableName: string;
  stop: () => Promise<void>;
}

export async function startLocalDynamo(tableName = 'holdover-test'): Promise<LocalDynamo> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'holdover-ddb-'));
  const child: ChildProcess = await startDynamoDb(port, dir, dir);
  await provisionTable(port, tableName);
  const client = DynamoDBDocumentClient.from(dynamoClient(port), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    client,
    tableName,
    stop: async () => {
      client.destroy();
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

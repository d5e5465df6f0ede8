// What every entity of the single table shares: a conditional write that reports whether its
// condition held, conditional state changes batched into transactions, paginated reads, cursors.
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  paginateQuery,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  type UpdateCommand,
} from '@aws-sdk/lib-dynamodb';

export const CONFLICT_RETRIES = 5;
/** Rounds of a batch read's unprocessed keys (throttling) before giving up. */
const BATCH_READ_RETRIES = 8;
/** Items per TransactWriteItems (the limit is 100; one place is kept for a check or counter). */
export const TRANSACTION_CHUNK = 99;

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** The table and clock every entity works with. */
export interface TableContext {
  client: DynamoDBDocumentClient;
  tableName: string;
  now: () => number;
}

/** A conditional write: false when its condition did not hold, any other failure thrown. */
export async function writeIf(
  client: DynamoDBDocumentClient,
  command: PutCommand | DeleteCommand | UpdateCommand,
): Promise<boolean> {
  try {
    // (one send per type: the SDK's overloads take one command type at a time)
    if (command instanceof PutCommand) await client.send(command);
    else if (command instanceof DeleteCommand) await client.send(command);
    else await client.send(command);
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Conditional state changes, many per round trip: each chunk is one TransactWriteItems. A
 * transaction is all or nothing, so when some conditions fail (a message taken by expiry
 * meanwhile), those items are dropped and the rest is tried again; returns the items whose change
 * was made.
 */
export async function conditionally<T extends { id: string }>(
  client: DynamoDBDocumentClient,
  items: T[],
  actionOf: (item: T) => TransactItem,
  extraFor: (chunk: T[]) => TransactItem[] = () => [],
  /** The error to throw when a condition of the extra items failed (the whole change is refused). */
  extraFailed?: () => Error,
): Promise<T[]> {
  const changed: T[] = [];
  for (let start = 0; start < items.length; start += TRANSACTION_CHUNK) {
    let chunk = items.slice(start, start + TRANSACTION_CHUNK);
    for (let attempt = 0; chunk.length > 0; attempt++) {
      try {
        await client.send(
          new TransactWriteCommand({ TransactItems: [...chunk.map(actionOf), ...extraFor(chunk)] }),
        );
        changed.push(...chunk);
        break;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        const failed = new Set(
          chunk
            .filter((_, index) => reasons[index]?.Code === 'ConditionalCheckFailed')
            .map((item) => item.id),
        );
        if (extraFailed && reasons.slice(chunk.length).some((r) => r.Code === 'ConditionalCheckFailed'))
          throw extraFailed();
        const conflicted = reasons.some((reason) => reason.Code === 'TransactionConflict');
        if (failed.size === 0 && (!conflicted || attempt >= CONFLICT_RETRIES)) throw error;
        chunk = chunk.filter((item) => !failed.has(item.id));
        if (conflicted) await sleep(5 * 2 ** attempt * Math.random());
      }
    }
  }
  return changed;
}

export async function queryAll(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const { Items = [] } of paginateQuery({ client }, input)) items.push(...Items);
  return items;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Record<string, unknown> {
  const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (typeof key !== 'object' || key === null) throw new Error('malformed cursor');
  return key as Record<string, unknown>;
}

/**
 * Items by key, consistently, a hundred per round trip; keys the table left unprocessed
 * (throttling) are asked for again with a growing random pause, a bounded number of times.
 */
export async function getItems(
  table: TableContext,
  keyList: Record<string, unknown>[],
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  for (let start = 0; start < keyList.length; start += 100) {
    let wanted = keyList.slice(start, start + 100);
    for (let attempt = 0; wanted.length > 0; attempt++) {
      if (attempt >= BATCH_READ_RETRIES) {
        throw new Error(`the table throttled a batch read ${attempt} times; try again`);
      }
      if (attempt > 0) await sleep(10 * 2 ** attempt * Math.random());
      const { Responses, UnprocessedKeys } = await table.client.send(
        new BatchGetCommand({ RequestItems: { [table.tableName]: { Keys: wanted, ConsistentRead: true } } }),
      );
      found.push(...(Responses?.[table.tableName] ?? []));
      wanted = UnprocessedKeys?.[table.tableName]?.Keys ?? [];
    }
  }
  return found;
}

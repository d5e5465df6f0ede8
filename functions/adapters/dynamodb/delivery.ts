// The DeliveryStore port: the lease (lease.ts) and the messages it has in flight. Marking a batch
// delivering is one write of the lease's in-flight range; a delivered message is one write (its
// tombstone), many per BatchWriteItem. Messages stay `pending` in their items meanwhile: in
// flight is the lease's range, so a crashed run leaves nothing to undo but a lease that lapses.
import {
  BatchWriteCommand,
  DeleteCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { keys, ORDER_INDEX, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import type { HeldMessage } from '../../core/held-message.ts';
import { type DeliveryStore, LeaseLostError } from '../../core/ports.ts';
import { AFTER, covers, LEASE_GC_SECONDS, type LeaseItem, leaseKey, readLease } from './lease.ts';
import { fromItem, isLive, messageKey, orderOf, tombstoneOf } from './messages.ts';
import { queryAll, sleep, type TableContext, writeIf } from './writes.ts';

/** Requests per BatchWriteItem (the service's limit). */
const BATCH_WRITE = 25;
const RANGE_RETRIES = 5;

export interface DeliveryOptions {
  /**
   * How delivered messages' tombstones are written: `batch` (BatchWriteItem, 1 WRU each: AWS) or
   * `transaction` (TransactWriteItems of up to 100: DynamoDB Local commits each request to disk
   * on its own, so one request for a batch is several times faster there; in AWS it would cost
   * twice the write units). The same unconditional writes either way.
   */
  tombstoneWrites?: 'batch' | 'transaction';
}

export class DynamoDelivery implements DeliveryStore {
  constructor(
    private readonly table: TableContext,
    private readonly options: DeliveryOptions = {},
  ) {}

  /** Takes or renews the lease; the in-flight range stays (a takeover widens it, never drops it). */
  acquireLease(recipient: string, owner: string, ttlMs: number): Promise<boolean> {
    const nowMs = this.table.now();
    return writeIf(
      this.table.client,
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: leaseKey(recipient),
        UpdateExpression: 'SET #owner = :owner, #until = :until, #ttl = :ttl',
        ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR #until < :now',
        ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until', '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ':owner': owner,
          ':until': nowMs + ttlMs,
          ':ttl': Math.ceil((nowMs + ttlMs) / 1000) + LEASE_GC_SECONDS,
          ':now': nowMs,
        },
      }),
    );
  }

  async releaseLease(recipient: string, owner: string): Promise<void> {
    await writeIf(
      this.table.client,
      new DeleteCommand({
        TableName: this.table.tableName,
        Key: leaseKey(recipient),
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': owner },
      }),
    );
  }

  async deliverable(recipient: string, limit: number, after?: HeldMessage): Promise<HeldMessage[]> {
    const found: HeldMessage[] = [];
    const nowMs = this.table.now();
    let start: Record<string, unknown> | undefined = after
      ? { ...messageKey(after), lsi1sk: orderOf(after) }
      : undefined;
    const lease = readLease(this.table, recipient);
    do {
      const page = await this.table.client.send(
        new QueryCommand({
          TableName: this.table.tableName,
          IndexName: ORDER_INDEX,
          KeyConditionExpression: 'pk = :pk AND begins_with(lsi1sk, :msg)',
          FilterExpression: '#state IN (:pending, :delivering)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':pk': keys.user(recipient),
            ':msg': keys.messagePrefix,
            ':pending': 'pending',
            ':delivering': 'delivering',
          },
          Select: 'ALL_ATTRIBUTES',
          ConsistentRead: true,
          Limit: limit,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      found.push(...(page.Items ?? []).filter((item) => isLive(item, nowMs)).map(fromItem));
      start = page.LastEvaluatedKey;
    } while (start && found.length < limit);
    const held = await lease;
    return found.slice(0, limit).map((message) => inFlightAs(message, held));
  }

  /**
   * Widens the lease's in-flight range over `messages` (one conditional write, refused unless
   * `owner` holds the live lease), then reads their state again: a message the sweeper claimed
   * before the range was written is left out; after it, the sweeper's claim is refused.
   */
  async markDelivering(messages: HeldMessage[], owner: string): Promise<HeldMessage[]> {
    if (messages.length === 0) return [];
    const recipient = messages[0]?.recipient ?? '';
    const orders = messages.map(orderOf).sort();
    const from = orders[0] ?? '';
    const to = orders.at(-1) ?? '';
    await this.widenRange(recipient, owner, from, `${to}${AFTER}`);
    const states = await queryAll(this.table.client, {
      TableName: this.table.tableName,
      IndexName: ORDER_INDEX,
      KeyConditionExpression: 'pk = :pk AND lsi1sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': keys.user(recipient), ':from': from, ':to': to },
      ProjectionExpression: 'lsi1sk, #state',
      ExpressionAttributeNames: { '#state': 'state' },
      ConsistentRead: true,
    });
    const stillPending = new Set(
      states
        .filter((item) => item.state === 'pending' || item.state === 'delivering')
        .map((item) => String(item.lsi1sk)),
    );
    return messages
      .filter((message) => stillPending.has(orderOf(message)))
      .map((message) => ({ ...message, state: 'delivering' as const, owner }));
  }

  /** Sets the range to its union with [from, until), under `owner`'s live lease. */
  private async widenRange(recipient: string, owner: string, from: string, until: string): Promise<void> {
    // The usual case in one write: no range yet, or one that starts before and ends before.
    const grown = await writeIf(
      this.table.client,
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: leaseKey(recipient),
        UpdateExpression: 'SET inflightFrom = if_not_exists(inflightFrom, :from), inflightUntil = :until',
        ConditionExpression:
          '#owner = :owner AND #until > :now AND (attribute_not_exists(inflightFrom) OR inflightFrom <= :from) ' +
          'AND (attribute_not_exists(inflightUntil) OR inflightUntil <= :until)',
        ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
        ExpressionAttributeValues: {
          ':owner': owner,
          ':now': this.table.now(),
          ':from': from,
          ':until': until,
        },
      }),
    );
    if (grown) return;
    for (let attempt = 0; ; attempt++) {
      const lease = await readLease(this.table, recipient);
      const nowMs = this.table.now();
      if (!lease || lease.owner !== owner || lease.until <= nowMs) {
        throw new LeaseLostError(`the delivery lease is no longer held by ${owner}`);
      }
      const newFrom = lease.inflightFrom && lease.inflightFrom < from ? lease.inflightFrom : from;
      const newUntil = lease.inflightUntil && lease.inflightUntil > until ? lease.inflightUntil : until;
      const written = await writeIf(
        this.table.client,
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: leaseKey(recipient),
          UpdateExpression: 'SET inflightFrom = :from, inflightUntil = :until',
          ConditionExpression: `#owner = :owner AND #until > :now AND ${sameRange(lease)}`,
          ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':now': nowMs,
            ':from': newFrom,
            ':until': newUntil,
            ...(lease.inflightFrom ? { ':oldFrom': lease.inflightFrom } : {}),
            ...(lease.inflightUntil ? { ':oldUntil': lease.inflightUntil } : {}),
          },
        }),
      );
      if (written) return;
      if (attempt >= RANGE_RETRIES)
        throw new LeaseLostError(`the delivery lease of ${recipient} kept changing`);
      await sleep(5 * 2 ** attempt * Math.random());
    }
  }

  /**
   * Ends the range before the first of `messages`: they are no longer in flight (the unsent rest
   * of a run is always at its end). Nothing if another run holds the lease now.
   */
  async releaseToPending(messages: HeldMessage[], owner: string): Promise<void> {
    if (messages.length === 0) return;
    const first = messages.map(orderOf).sort()[0] ?? '';
    await writeIf(
      this.table.client,
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: leaseKey(messages[0]?.recipient ?? ''),
        UpdateExpression: 'SET inflightUntil = :first',
        ConditionExpression: '#owner = :owner AND inflightUntil > :first',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': owner, ':first': first },
      }),
    );
  }

  /**
   * In flight → settled: each message still in a lease's range becomes its tombstone, 25 per
   * BatchWriteItem. No per-item condition is needed: while the range holds it, neither the sweeper
   * nor a second run takes it.
   */
  async removeDelivered(messages: HeldMessage[]): Promise<void> {
    const byRecipient = new Map<string, HeldMessage[]>();
    for (const message of messages) {
      byRecipient.set(message.recipient, [...(byRecipient.get(message.recipient) ?? []), message]);
    }
    const settled: HeldMessage[] = [];
    for (const [recipient, list] of byRecipient) {
      const lease = await readLease(this.table, recipient);
      settled.push(...list.filter((message) => covers(lease, orderOf(message))));
    }
    await this.writeTombstones(settled);
  }

  /** 25 per BatchWriteItem, the batches side by side; what comes back unprocessed is sent again. */
  private async writeTombstones(messages: HeldMessage[]): Promise<void> {
    if (this.options.tombstoneWrites === 'transaction') {
      for (let start = 0; start < messages.length; start += 100) {
        await this.table.client.send(
          new TransactWriteCommand({
            TransactItems: messages
              .slice(start, start + 100)
              .map((message) => ({ Put: { TableName: this.table.tableName, Item: tombstoneOf(message) } })),
          }),
        );
      }
      return;
    }
    const chunks: HeldMessage[][] = [];
    for (let start = 0; start < messages.length; start += BATCH_WRITE) {
      chunks.push(messages.slice(start, start + BATCH_WRITE));
    }
    await Promise.all(
      chunks.map(async (chunk) => {
        let requests = chunk.map((message) => ({ PutRequest: { Item: tombstoneOf(message) } }));
        for (let attempt = 0; requests.length > 0; attempt++) {
          const { UnprocessedItems } = await this.table.client.send(
            new BatchWriteCommand({ RequestItems: { [this.table.tableName]: requests } }),
          );
          requests = (UnprocessedItems?.[this.table.tableName] ?? []).flatMap((request) =>
            request.PutRequest?.Item ? [{ PutRequest: { Item: request.PutRequest.Item } }] : [],
          );
          if (requests.length > 0) await sleep(Math.min(1000, 10 * 2 ** attempt));
        }
      }),
    );
  }
}

/** A message in a lease's range is in flight under that lease's owner. */
function inFlightAs(message: HeldMessage, lease: LeaseItem | undefined): HeldMessage {
  return message.state === 'pending' && lease && covers(lease, orderOf(message))
    ? { ...message, state: 'delivering', owner: lease.owner }
    : message;
}

function sameRange(lease: LeaseItem): string {
  const from = lease.inflightFrom ? 'inflightFrom = :oldFrom' : 'attribute_not_exists(inflightFrom)';
  const until = lease.inflightUntil ? 'inflightUntil = :oldUntil' : 'attribute_not_exists(inflightUntil)';
  return `${from} AND ${until}`;
}

// The ports of the core (messages, users, presence, delivery) on the single DynamoDB table (see
// table.ts for the keys). Every state change is a conditional write; items past their TTL are
// treated as absent, since DynamoDB deletes them lazily.
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { ExpiryEntry, ExpiryStore } from '../core/expiry.ts';
import {
  type BounceFacts,
  type DeadFacts,
  HELD_STATES,
  type HeldMessage,
  type HeldState,
  type MessageRef,
} from '../core/held-message.ts';
import {
  type BounceStore,
  type DeadPage,
  type DeliveryStore,
  type HeldPage,
  type HeldStats,
  type HoldGuard,
  type HoldOptions,
  type HoldOutcome,
  LeaseLostError,
  type MessageStore,
  type SettingsStore,
  type UserRecord,
  type UserStore,
} from '../core/ports.ts';
import type { Presence } from '../core/presence.ts';
import { type UserSettings, UserSettingsSchema } from '../core/settings.ts';
import { EXPIRY_INDEX, epochSeconds, keys, TTL_ATTRIBUTE } from './table.ts';

/** Held messages are garbage-collected this long after they expire; the sweeper acts long before. */
const GC_GRACE_SECONDS = 7 * 86_400;
const CONFLICT_RETRIES = 5;
/** Items per TransactWriteItems (the limit is 100; one place is kept for the counter). */
const TRANSACTION_CHUNK = 99;

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export class DynamoStore
  implements MessageStore, SettingsStore, UserStore, DeliveryStore, ExpiryStore, BounceStore
{
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async hold(message: HeldMessage, guard: HoldGuard, options: HoldOptions = {}): Promise<HoldOutcome> {
    // past the deadline the write is not attempted at all (it could land after the 503)
    if (options.deadline !== undefined && this.now() >= options.deadline) {
      throw new Error('the capture deadline passed before the store was written');
    }
    const ttl = epochSeconds(message.expiresAt) + GC_GRACE_SECONDS;
    const nowSeconds = Math.floor(this.now() / 1000);
    const command = new TransactWriteCommand({
      TransactItems: [
        {
          Update: {
            TableName: this.tableName,
            Key: { pk: keys.user(message.recipient), sk: keys.counter },
            UpdateExpression: 'ADD held :one',
            ConditionExpression: 'attribute_not_exists(held) OR held < :quota',
            ExpressionAttributeValues: { ':one': 1, ':quota': guard.quota },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
        ...guard.dedupeKeys.map((key) => ({
          Put: {
            TableName: this.tableName,
            Item: {
              pk: keys.dedupe(key),
              sk: keys.dedupeSk,
              messageId: message.id,
              expiresAt: message.expiresAt,
              [TTL_ATTRIBUTE]: ttl,
            },
            ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':now': nowSeconds },
          },
        })),
        {
          Put: {
            TableName: this.tableName,
            Item: messageItem(message),
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
      ],
    });

    // Cut off at the caller's deadline: past it nobody waits for the answer (the edge says 503).
    const abortSignal =
      options.deadline === undefined
        ? undefined
        : AbortSignal.timeout(Math.max(1, options.deadline - this.now()));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(command, abortSignal ? { abortSignal } : {});
        return { outcome: 'held' };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        const dedupeFailed = guard.dedupeKeys.findIndex(
          (_, index) => reasons[index + 1]?.Code === 'ConditionalCheckFailed',
        );
        if (dedupeFailed >= 0) {
          const first = await this.firstOf(guard.dedupeKeys[dedupeFailed] ?? '');
          if (first) return { outcome: 'duplicate', ...first };
          continue; // the marker vanished between the write and the read: try again
        }
        const counter = reasons[0];
        if (counter?.Code === 'ConditionalCheckFailed') {
          const held = Number(counter.Item?.held?.N ?? guard.quota);
          return { outcome: 'quota', held };
        }
        const conflicted = reasons.some((reason) => reason.Code === 'TransactionConflict');
        if (!conflicted || attempt >= CONFLICT_RETRIES) throw error;
        await sleep(10 * 2 ** attempt * Math.random());
      }
    }
  }

  private async firstOf(dedupeKey: string): Promise<{ id: string; expiresAt: string } | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.dedupe(dedupeKey), sk: keys.dedupeSk },
        ConsistentRead: true,
      }),
    );
    if (typeof Item?.messageId !== 'string' || typeof Item.expiresAt !== 'string') return undefined;
    return { id: Item.messageId, expiresAt: Item.expiresAt };
  }

  async listHeld(recipient: string, page: { limit?: number; after?: string } = {}): Promise<HeldPage> {
    const { Items = [], LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
        ExpressionAttributeValues: { ':pk': keys.user(recipient), ':msg': keys.messagePrefix },
        ConsistentRead: true,
        Limit: page.limit ?? 100,
        ...(page.after ? { ExclusiveStartKey: { pk: keys.user(recipient), sk: page.after } } : {}),
      }),
    );
    const nowSeconds = Math.floor(this.now() / 1000);
    const messages = Items.filter((item) => !(Number(item[TTL_ATTRIBUTE]) < nowSeconds)).map(fromItem);
    const next = typeof LastEvaluatedKey?.sk === 'string' ? LastEvaluatedKey.sk : undefined;
    return next ? { messages, next } : { messages };
  }

  /** Operator statistics. A paginated scan: fine for an ops command, not for a hot path. */
  async stats(): Promise<HeldStats> {
    const byState = Object.fromEntries(HELD_STATES.map((state) => [state, 0])) as Record<HeldState, number>;
    const recipients = new Set<string>();
    let oldest: string | undefined;
    const pages = paginateScan(
      { client: this.client },
      {
        TableName: this.tableName,
        FilterExpression: 'begins_with(sk, :msg)',
        ProjectionExpression: '#state, receivedAt, recipient',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':msg': keys.messagePrefix },
      },
    );
    for await (const { Items = [] } of pages) {
      for (const item of Items) {
        const state = item.state as HeldState;
        if (state in byState) byState[state]++;
        recipients.add(String(item.recipient));
        const receivedAt = String(item.receivedAt);
        if (oldest === undefined || receivedAt < oldest) oldest = receivedAt;
      }
    }
    return { byState, recipients: recipients.size, ...(oldest ? { oldestReceivedAt: oldest } : {}) };
  }

  async getSettings(aor: string): Promise<UserSettings | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.user(aor), sk: keys.settings } }),
    );
    return parseSettings(Item?.settings);
  }

  async putSettings(aor: string, settings: UserSettings): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: keys.user(aor),
          sk: keys.settings,
          settings,
          updatedAt: new Date(this.now()).toISOString(),
          // listed in the index while a vacation is set, so the sweeper finds who is away
          ...(settings.vacation
            ? { gsi1pk: keys.vacationIndex, gsi1sk: new Date(settings.vacation.until).toISOString() }
            : {}),
        },
      }),
    );
  }

  /** One query reads all of a user's own items: they sort before the messages (`sk < MSG#`). */
  async getUser(aor: string): Promise<UserRecord> {
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk < :msg',
        ExpressionAttributeValues: { ':pk': keys.user(aor), ':msg': keys.messagePrefix },
        ConsistentRead: true,
      }),
    );
    const record: UserRecord = { held: 0 };
    for (const item of Items) {
      if (item.sk === keys.counter) record.held = Math.max(0, Number(item.held ?? 0));
      else if (item.sk === keys.settings) {
        const settings = parseSettings(item.settings);
        if (settings) record.settings = settings;
      } else if (item.sk === keys.presence) record.presence = presenceFromItem(item);
    }
    return record;
  }

  putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean> {
    return this.writeIf(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: keys.user(aor), sk: keys.presence, ...presence },
        ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(pk)' : 'version = :version',
        ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ':version': expectedVersion } }),
      }),
    );
  }

  claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean> {
    const nowMs = this.now();
    return this.writeIf(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: keys.user(recipient),
          sk: keys.notice(sender),
          until: nowMs + windowMs,
          [TTL_ATTRIBUTE]: Math.ceil((nowMs + windowMs) / 1000),
        },
        ConditionExpression: 'attribute_not_exists(pk) OR #until < :now',
        ExpressionAttributeNames: { '#until': 'until' },
        ExpressionAttributeValues: { ':now': nowMs },
      }),
    );
  }

  acquireLease(recipient: string, owner: string, ttlMs: number): Promise<boolean> {
    const nowMs = this.now();
    return this.writeIf(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: keys.user(recipient),
          sk: keys.lease,
          owner,
          until: nowMs + ttlMs,
          [TTL_ATTRIBUTE]: Math.ceil((nowMs + ttlMs) / 1000) + 3600,
        },
        ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR #until < :now',
        ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
        ExpressionAttributeValues: { ':owner': owner, ':now': nowMs },
      }),
    );
  }

  async releaseLease(recipient: string, owner: string): Promise<void> {
    await this.writeIf(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: keys.user(recipient), sk: keys.lease },
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': owner },
      }),
    );
  }

  /** A conditional write: false when its condition did not hold, any other failure thrown. */
  private async writeIf(command: PutCommand | DeleteCommand): Promise<boolean> {
    try {
      // (two sends: the SDK's overloads take one command type at a time)
      if (command instanceof PutCommand) await this.client.send(command);
      else await this.client.send(command);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async deliverable(recipient: string, limit: number, after?: HeldMessage): Promise<HeldMessage[]> {
    const found: HeldMessage[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
        FilterExpression: '#state IN (:pending, :delivering) AND #ttl >= :now',
        ExpressionAttributeNames: { '#state': 'state', '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ':pk': keys.user(recipient),
          ':msg': keys.messagePrefix,
          ':pending': 'pending',
          ':delivering': 'delivering',
          ':now': Math.floor(this.now() / 1000),
        },
        ConsistentRead: true,
        Limit: limit,
        ...(after ? { ExclusiveStartKey: messageKeyOf(after) } : {}),
      },
    );
    for await (const { Items = [] } of pages) {
      found.push(...Items.map(fromItem));
      if (found.length >= limit) break;
    }
    return found.slice(0, limit);
  }

  async markDelivering(messages: HeldMessage[], owner: string): Promise<HeldMessage[]> {
    const nowMs = this.now();
    const changed = await this.conditionally(
      messages,
      (message) => ({
        Update: {
          TableName: this.tableName,
          Key: messageKeyOf(message),
          UpdateExpression: 'SET #state = :delivering, #owner = :owner',
          ConditionExpression: '#state IN (:pending, :delivering)',
          ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
          ExpressionAttributeValues: { ':pending': 'pending', ':delivering': 'delivering', ':owner': owner },
        },
      }),
      (chunk) => [
        {
          // In the same transaction: only the holder of the live lease marks, so a message in
          // flight under another run is taken over only once that run's lease ran out.
          ConditionCheck: {
            TableName: this.tableName,
            Key: { pk: keys.user(chunk[0]?.recipient ?? ''), sk: keys.lease },
            ConditionExpression: '#owner = :owner AND #until > :now',
            ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
            ExpressionAttributeValues: { ':owner': owner, ':now': nowMs },
          },
        },
      ],
      () => new LeaseLostError(`the delivery lease is no longer held by ${owner}`),
    );
    return changed.map((message) => ({ ...message, state: 'delivering', owner }));
  }

  async releaseToPending(messages: HeldMessage[], owner: string): Promise<void> {
    await this.conditionally(messages, (message) => ({
      Update: {
        TableName: this.tableName,
        Key: messageKeyOf(message),
        UpdateExpression: 'SET #state = :pending REMOVE #owner',
        ConditionExpression: '#state = :delivering AND #owner = :owner',
        ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
        ExpressionAttributeValues: { ':pending': 'pending', ':delivering': 'delivering', ':owner': owner },
      },
    }));
  }

  async removeDelivered(messages: HeldMessage[]): Promise<void> {
    await this.remove(messages, 'delivering');
  }

  /** Deletes messages still in `state`, counting the recipient's held count down in the same transaction. */
  private remove<T extends MessageRef>(messages: T[], state: HeldState): Promise<T[]> {
    return this.conditionally(
      messages,
      (message) => ({
        Delete: {
          TableName: this.tableName,
          Key: messageKeyOf(message),
          ConditionExpression: '#state = :state',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':state': state },
        },
      }),
      (chunk) =>
        [...countBy(chunk, (message) => message.recipient)].map(([recipient, count]) => ({
          Update: {
            TableName: this.tableName,
            Key: { pk: keys.user(recipient), sk: keys.counter },
            UpdateExpression: 'ADD held :minus',
            ExpressionAttributeValues: { ':minus': -count },
          },
        })),
    );
  }

  /**
   * Conditional state changes, many per round trip: each chunk is one TransactWriteItems, so the
   * counter moves with the messages. A transaction is all or nothing, so when some conditions
   * fail (a message taken by expiry meanwhile), those items are dropped and the rest is tried
   * again; returns the items whose change was made.
   */
  private async conditionally<T extends { id: string }>(
    items: T[],
    actionOf: (item: T) => NonNullable<TransactWriteCommandInput['TransactItems']>[number],
    extraFor: (chunk: T[]) => NonNullable<TransactWriteCommandInput['TransactItems']> = () => [],
    /** The error to throw when a condition of the extra items failed (the whole change is refused). */
    extraFailed?: () => Error,
  ): Promise<T[]> {
    const changed: T[] = [];
    for (let start = 0; start < items.length; start += TRANSACTION_CHUNK) {
      let chunk = items.slice(start, start + TRANSACTION_CHUNK);
      for (let attempt = 0; chunk.length > 0; attempt++) {
        try {
          await this.client.send(
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

  // --- expiry (ExpiryStore) ---

  async due(
    shard: number,
    nowIso: string,
    after?: unknown,
  ): Promise<{ entries: ExpiryEntry[]; next?: unknown }> {
    const { Items = [], LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: EXPIRY_INDEX,
        KeyConditionExpression: 'gsi1pk = :shard AND gsi1sk < :bound',
        // '$' sorts right after '#': every `<expiresAt>#<id>` with expiresAt ≤ now
        ExpressionAttributeValues: { ':shard': `EXP#${shard}`, ':bound': `${nowIso}$` },
        Limit: 500,
        ...(after ? { ExclusiveStartKey: after as Record<string, unknown> } : {}),
      }),
    );
    return { entries: Items.map(entryOf), ...(LastEvaluatedKey ? { next: LastEvaluatedKey } : {}) };
  }

  async earliestExpiry(shard: number): Promise<string | undefined> {
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: EXPIRY_INDEX,
        KeyConditionExpression: 'gsi1pk = :shard',
        ExpressionAttributeValues: { ':shard': `EXP#${shard}` },
        Limit: 1,
      }),
    );
    const sk = Items[0]?.gsi1sk;
    return typeof sk === 'string' ? sk.slice(0, sk.indexOf('#')) : undefined;
  }

  async onVacation(nowIso: string): Promise<string[]> {
    const items = await this.queryAll({
      TableName: this.tableName,
      IndexName: EXPIRY_INDEX,
      KeyConditionExpression: 'gsi1pk = :vacation AND gsi1sk > :now',
      ExpressionAttributeValues: { ':vacation': keys.vacationIndex, ':now': nowIso },
    });
    return items.map((item) => String(item.pk).slice('USER#'.length));
  }

  async waiting(recipient: string): Promise<ExpiryEntry[]> {
    const items = await this.queryAll({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
      FilterExpression: '#state IN (:pending, :expiring)',
      ProjectionExpression: 'pk, sk, #state, claimedAt',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':pk': keys.user(recipient),
        ':msg': keys.messagePrefix,
        ':pending': 'pending',
        ':expiring': 'expiring',
      },
      ConsistentRead: true,
    });
    return items.map(entryOf);
  }

  private async queryAll(input: QueryCommandInput): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    for await (const { Items = [] } of paginateQuery({ client: this.client }, input)) items.push(...Items);
    return items;
  }

  claimForExpiry(entries: ExpiryEntry[], nowMs: number, staleBefore: number): Promise<ExpiryEntry[]> {
    return this.conditionally(
      entries,
      (entry): TransactItem =>
        entry.state === 'bounced'
          ? {
              // stays bounced, with a fresh claim: its notice is queued again
              Update: {
                TableName: this.tableName,
                Key: messageKeyOf(entry),
                UpdateExpression: 'SET claimedAt = :now',
                ConditionExpression: '#state = :bounced AND claimedAt < :stale',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: { ':bounced': 'bounced', ':now': nowMs, ':stale': staleBefore },
              },
            }
          : {
              Update: {
                TableName: this.tableName,
                Key: messageKeyOf(entry),
                UpdateExpression: 'SET #state = :expiring, claimedAt = :now REMOVE #owner',
                ConditionExpression:
                  '#state = :pending OR (#state = :expiring AND claimedAt < :stale) OR (#state = :delivering AND expiresAt < :staleIso)',
                ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
                ExpressionAttributeValues: {
                  ':delivering': 'delivering',
                  ':staleIso': new Date(staleBefore).toISOString(),
                  ':pending': 'pending',
                  ':expiring': 'expiring',
                  ':now': nowMs,
                  ':stale': staleBefore,
                },
              },
            },
    );
  }

  async expiring(recipient: string, refs: Array<{ id: string; receivedAt: string }>): Promise<HeldMessage[]> {
    const found = await this.getAll(
      refs.map((ref) => ({ pk: keys.user(recipient), sk: keys.message(ref.receivedAt, ref.id) })),
    );
    return found
      .filter((message) => message.state === 'expiring' || message.state === 'bounced')
      .sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
  }

  async removeExpired(messages: HeldMessage[]): Promise<void> {
    await this.remove(messages, 'expiring');
  }

  // --- bounces and dead letters (BounceStore) ---

  async markBounced(
    bounces: Array<{ message: HeldMessage; bounce: BounceFacts }>,
    from: 'delivering' | 'expiring',
  ): Promise<HeldMessage[]> {
    const changed = await this.conditionally(
      bounces.map((entry) => ({ ...entry, id: entry.message.id })),
      ({ message, bounce }) => ({
        Update: {
          TableName: this.tableName,
          Key: messageKeyOf(message),
          UpdateExpression: 'SET #state = :bounced, bounce = :bounce, claimedAt = :at REMOVE #owner',
          ConditionExpression: '#state = :from',
          ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':bounced': 'bounced',
            ':bounce': bounce,
            ':at': bounce.at,
            ':from': from,
          },
        },
      }),
    );
    return changed.map(({ message, bounce }) => ({ ...message, state: 'bounced', bounce }));
  }

  async settleBounce(
    ref: MessageRef,
    outcome: { told: true } | { failed: string },
  ): Promise<'removed' | 'dead' | 'absent'> {
    if ('told' in outcome) return (await this.remove([ref], 'bounced')).length > 0 ? 'removed' : 'absent';
    const dead: DeadFacts = { reason: outcome.failed, at: this.now() };
    const changed = await this.conditionally(
      [ref],
      (message) => ({
        Update: {
          TableName: this.tableName,
          Key: messageKeyOf(message),
          // Out of the expiry index into the dead letters' list, and no longer garbage-collected:
          // kept until an operator purges it. It no longer counts as held (quota, MWI).
          UpdateExpression: 'SET #state = :dead, dead = :facts, gsi1pk = :list, gsi1sk = :id REMOVE #ttl',
          ConditionExpression: '#state = :bounced',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ':dead': 'dead',
            ':bounced': 'bounced',
            ':facts': dead,
            ':list': keys.deadIndex,
            ':id': message.id,
          },
        },
      }),
      (chunk) => [
        {
          Update: {
            TableName: this.tableName,
            Key: { pk: keys.user(ref.recipient), sk: keys.counter },
            UpdateExpression: 'ADD held :minus',
            ExpressionAttributeValues: { ':minus': -chunk.length },
          },
        },
      ],
    );
    return changed.length > 0 ? 'dead' : 'absent';
  }

  async listDead(page: { limit?: number; after?: string } = {}): Promise<DeadPage> {
    const { Items = [], LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: EXPIRY_INDEX,
        KeyConditionExpression: 'gsi1pk = :list',
        ExpressionAttributeValues: { ':list': keys.deadIndex },
        Limit: page.limit ?? 100,
        ...(page.after ? { ExclusiveStartKey: decodeCursor(page.after) } : {}),
      }),
    );
    const messages = (await this.getAll(Items.map((item) => ({ pk: item.pk, sk: item.sk }))))
      .filter((message) => message.state === 'dead')
      .sort((a, b) => a.id.localeCompare(b.id));
    return LastEvaluatedKey ? { messages, next: encodeCursor(LastEvaluatedKey) } : { messages };
  }

  async purgeDead(which: { id: string } | { all: true }): Promise<number> {
    const byId = 'id' in which;
    const listed = await this.queryAll({
      TableName: this.tableName,
      IndexName: EXPIRY_INDEX,
      KeyConditionExpression: byId ? 'gsi1pk = :list AND gsi1sk = :id' : 'gsi1pk = :list',
      ExpressionAttributeValues: { ':list': keys.deadIndex, ...(byId ? { ':id': which.id } : {}) },
    });
    // conditional deletes: only what is still a dead letter
    const results = await Promise.all(
      listed.map((item) =>
        this.writeIf(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { pk: item.pk, sk: item.sk },
            ConditionExpression: '#state = :dead',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':dead': 'dead' },
          }),
        ),
      ),
    );
    return results.filter(Boolean).length;
  }

  /** Items by key, consistently, a hundred per round trip. */
  private async getAll(keyList: Record<string, unknown>[]): Promise<HeldMessage[]> {
    const found: HeldMessage[] = [];
    for (let start = 0; start < keyList.length; start += 100) {
      let requested = keyList.slice(start, start + 100);
      while (requested.length > 0) {
        const { Responses, UnprocessedKeys } = await this.client.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: requested, ConsistentRead: true } },
          }),
        );
        found.push(...(Responses?.[this.tableName] ?? []).map(fromItem));
        requested = UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return found;
  }
}

function messageKeyOf(message: {
  recipient: string;
  receivedAt: string;
  id: string;
}): Record<string, string> {
  return { pk: keys.user(message.recipient), sk: keys.message(message.receivedAt, message.id) };
}

function countBy<T>(items: T[], keyOf: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(keyOf(item), (counts.get(keyOf(item)) ?? 0) + 1);
  return counts;
}

/** An expiry-index (or projected) item: the recipient and message key live in pk/sk. */
function entryOf(item: Record<string, unknown>): ExpiryEntry {
  const sk = String(item.sk ?? '');
  const hash = sk.lastIndexOf('#');
  const expirySk = typeof item.gsi1sk === 'string' ? item.gsi1sk : '';
  return {
    recipient: String(item.pk ?? '').slice('USER#'.length),
    id: sk.slice(hash + 1),
    receivedAt: sk.slice(keys.messagePrefix.length, hash),
    ...(expirySk ? { expiresAt: expirySk.slice(0, expirySk.indexOf('#')) } : {}),
    state: String(item.state ?? ''),
    ...(typeof item.claimedAt === 'number' ? { claimedAt: item.claimedAt } : {}),
  };
}

function parseSettings(value: unknown): UserSettings | undefined {
  if (value === undefined) return undefined;
  const parsed = UserSettingsSchema.safeParse(value);
  // A stored value that no longer validates is ignored rather than breaking capture.
  return parsed.success ? parsed.data : undefined;
}

function presenceFromItem(item: Record<string, unknown>): Presence {
  const registration = item.registration as Presence['registration'];
  const published = item.published as Presence['published'];
  return {
    ...(registration ? { registration } : {}),
    ...(published ? { published } : {}),
    version: Number(item.version ?? 0),
    updatedAt: String(item.updatedAt ?? ''),
  };
}

/** A held message as stored: its keys, its place in the expiry index, and its GC time. */
export function messageItem(message: HeldMessage): Record<string, unknown> {
  return {
    ...messageKeyOf(message),
    type: 'message',
    ...message,
    gsi1pk: keys.expiryShard(message.id),
    gsi1sk: keys.expirySk(message.expiresAt, message.id),
    [TTL_ATTRIBUTE]: epochSeconds(message.expiresAt) + GC_GRACE_SECONDS,
  };
}

function fromItem(item: Record<string, unknown>): HeldMessage {
  const str = (name: string) => String(item[name] ?? '');
  const optional = (name: string) => (typeof item[name] === 'string' ? { [name]: item[name] as string } : {});
  const body = item.body instanceof Uint8Array ? item.body : new Uint8Array();
  const cpim = item.cpim && typeof item.cpim === 'object' ? { cpim: item.cpim as HeldMessage['cpim'] } : {};
  return {
    id: str('id'),
    recipient: str('recipient'),
    sender: str('sender'),
    senderUri: str('senderUri'),
    ...optional('senderName'),
    ...optional('replyTo'),
    callId: str('callId'),
    cseq: Number(item.cseq ?? 0),
    contentType: str('contentType'),
    body,
    ...cpim,
    ...optional('subject'),
    receivedAt: str('receivedAt'),
    expiresAt: str('expiresAt'),
    state: str('state') as HeldState,
    ...optional('owner'),
    ...(item.bounce && typeof item.bounce === 'object' ? { bounce: item.bounce as BounceFacts } : {}),
    ...(item.dead && typeof item.dead === 'object' ? { dead: item.dead as DeadFacts } : {}),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): Record<string, unknown> {
  const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (typeof key !== 'object' || key === null) throw new Error('malformed cursor');
  return key as Record<string, unknown>;
}

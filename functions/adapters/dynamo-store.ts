// MessageStore and SettingsStore on the single DynamoDB table (see table.ts for the keys).
// Every state change is a conditional write; items past their TTL are treated as absent, since
// DynamoDB deletes them lazily.
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { HeldMessage, HeldState } from '../core/held-message.ts';
import type {
  HeldPage,
  HeldStats,
  HoldGuard,
  HoldOutcome,
  MessageStore,
  SettingsStore,
} from '../core/ports.ts';
import { type UserSettings, UserSettingsSchema } from '../core/settings.ts';
import { epochSeconds, keys, TTL_ATTRIBUTE } from './table.ts';

/** Held messages are garbage-collected this long after they expire; the sweeper acts long before. */
const GC_GRACE_SECONDS = 7 * 86_400;
const CONFLICT_RETRIES = 5;

export class DynamoMessageStore implements MessageStore, SettingsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async hold(message: HeldMessage, guard: HoldGuard): Promise<HoldOutcome> {
    const ttl = epochSeconds(message.expiresAt) + GC_GRACE_SECONDS;
    const nowSeconds = Math.floor(this.now() / 1000);
    const messageKey = { pk: keys.user(message.recipient), sk: keys.message(message.receivedAt, message.id) };
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
            Item: {
              ...messageKey,
              ...toItem(message),
              gsi1pk: keys.expiryShard(message.id),
              gsi1sk: keys.expirySk(message.expiresAt, message.id),
              [TTL_ATTRIBUTE]: ttl,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
      ],
    });

    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(command);
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
    const byState: Record<HeldState, number> = { pending: 0, delivering: 0, expiring: 0, bounced: 0 };
    const recipients = new Set<string>();
    let oldest: string | undefined;
    let startKey: Record<string, unknown> | undefined;
    do {
      const { Items = [], LastEvaluatedKey } = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(sk, :msg)',
          ProjectionExpression: '#state, receivedAt, recipient',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':msg': keys.messagePrefix },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of Items) {
        const state = item.state as HeldState;
        if (state in byState) byState[state]++;
        recipients.add(String(item.recipient));
        const receivedAt = String(item.receivedAt);
        if (oldest === undefined || receivedAt < oldest) oldest = receivedAt;
      }
      startKey = LastEvaluatedKey;
    } while (startKey);
    return { byState, recipients: recipients.size, ...(oldest ? { oldestReceivedAt: oldest } : {}) };
  }

  async getSettings(aor: string): Promise<UserSettings | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.user(aor), sk: keys.settings } }),
    );
    if (Item === undefined) return undefined;
    const parsed = UserSettingsSchema.safeParse(Item.settings);
    // A stored value that no longer validates is ignored rather than breaking capture.
    return parsed.success ? parsed.data : undefined;
  }
}

function toItem(message: HeldMessage): Record<string, unknown> {
  return { type: 'message', ...message };
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
    callId: str('callId'),
    cseq: Number(item.cseq ?? 0),
    contentType: str('contentType'),
    body,
    ...cpim,
    ...optional('subject'),
    receivedAt: str('receivedAt'),
    expiresAt: str('expiresAt'),
    state: str('state') as HeldState,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

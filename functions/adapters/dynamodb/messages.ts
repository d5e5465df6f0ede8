// The held message: its item, its keys, and the MessageStore port (capture, listing, stats).
//
//   pk USER#<aor>   sk MSG#<call key>   lsi1sk MSG#<receivedAt>#<id>   gsi1 EXP#<shard> / <expiresAt>#<id>
//
// The item is keyed by the message's Call-ID+CSeq dedupe key, so capture is one conditional
// PutItem: a retransmission finds the item there and gets the first answer. The arrival order is
// the sort key of the order index (an LSI, so reads of it are consistent). A settled message
// (delivered, emailed, its bounce told) is overwritten by a tombstone without lsi1sk or gsi1:
// out of every index, it still answers a late duplicate until its TTL. There is no held counter:
// the quota and the MWI count are a COUNT of the recipient's entries in the order index.
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  paginateScan,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { HELD_STATES, type HeldState } from '../../../shared/contract/views.ts';
import {
  EXPIRY_SHARDS,
  epochSeconds,
  keys,
  nowSeconds,
  ORDER_INDEX,
  TTL_ATTRIBUTE,
} from '../../../shared/table.ts';
import * as z from '../../../shared/zod.ts';
import { dedupeKey } from '../../core/capture.ts';
import type { HeldMessage } from '../../core/held-message.ts';
import type {
  HeldPage,
  HeldStats,
  HoldGuard,
  HoldOptions,
  HoldOutcome,
  MessageStore,
} from '../../core/ports.ts';
import { covers, readLease } from './lease.ts';
import { heldAndPresence } from './users.ts';
import {
  CONFLICT_RETRIES,
  decodeCursor,
  encodeCursor,
  queryAll,
  sleep,
  type TableContext,
  writeIf,
} from './writes.ts';

/** Held messages are garbage-collected this long after they expire; the sweeper acts long before. */
export const GC_GRACE_SECONDS = 7 * 86_400;

// --- keys ---

/** The item's sort key: its Call-ID+CSeq dedupe key (the same key capture guards with). */
export const messageSk = (message: { callId: string; cseq: number }) =>
  `${keys.messagePrefix}${dedupeKey('call', message.callId, String(message.cseq))}`;

export const messageKey = (message: HeldMessage) => ({
  pk: keys.user(message.recipient),
  sk: messageSk(message),
});

/** Its key in the order index: arrival time, then id (a ULID) for messages of the same instant. */
export const orderOf = (ref: { receivedAt: string; id: string }) =>
  `${keys.messagePrefix}${ref.receivedAt}#${ref.id}`;

export function parseOrder(order: string): { receivedAt: string; id: string } {
  const hash = order.lastIndexOf('#');
  return { receivedAt: order.slice(keys.messagePrefix.length, hash), id: order.slice(hash + 1) };
}

export const expiryShard = (id: string) => {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return `EXP#${hash % EXPIRY_SHARDS}`;
};
export const expirySk = (expiresAt: string, id: string) => `${expiresAt}#${id}`;

export const recipientOf = (pk: unknown) => String(pk ?? '').slice(keys.userPrefix.length);

// --- the item ---

const BounceSchema = z.object({ status: z.number(), reason: z.string(), at: z.number() });
const DeadSchema = z.object({ reason: z.string(), at: z.number() });

/** A held message as stored (the key attributes aside). */
export const MessageItemSchema = z.object({
  id: z.string(),
  recipient: z.string(),
  sender: z.string(),
  senderUri: z.string(),
  senderName: z.optional(z.string()),
  replyTo: z.optional(z.string()),
  callId: z.string(),
  cseq: z.number(),
  contentType: z.string(),
  body: z.catch(z.instanceof(Uint8Array), () => new Uint8Array()),
  cpim: z.optional(
    z.object({
      from: z.optional(z.string()),
      dateTime: z.optional(z.string()),
      imdnMessageId: z.optional(z.string()),
      imdnDisposition: z.optional(z.string()),
    }),
  ),
  subject: z.optional(z.string()),
  alert: z.optional(z.object({ id: z.string(), onExpire: z.enum(['drop', 'email']) })),
  receivedAt: z.string(),
  expiresAt: z.string(),
  state: z.enum(HELD_STATES),
  owner: z.optional(z.string()),
  bounce: z.optional(BounceSchema),
  dead: z.optional(DeadSchema),
});

/** A held message as stored: its keys, its places in the order and expiry indexes, its GC time. */
export function messageItem(message: HeldMessage): Record<string, unknown> {
  return {
    ...messageKey(message),
    type: 'message',
    ...message,
    lsi1sk: orderOf(message),
    gsi1pk: expiryShard(message.id),
    gsi1sk: expirySk(message.expiresAt, message.id),
    [TTL_ATTRIBUTE]: epochSeconds(message.expiresAt) + GC_GRACE_SECONDS,
  };
}

/** What is left of a settled message: enough to answer a duplicate, in no index. */
export function tombstoneOf(message: HeldMessage): Record<string, unknown> {
  return {
    ...messageKey(message),
    type: 'tombstone',
    id: message.id,
    expiresAt: message.expiresAt,
    [TTL_ATTRIBUTE]: epochSeconds(message.expiresAt) + GC_GRACE_SECONDS,
  };
}

/** A message still in `state` replaced by its tombstone, conditionally: false if it moved on. */
export function tombstoneIf(table: TableContext, message: HeldMessage, state: HeldState): Promise<boolean> {
  return writeIf(
    table.client,
    new PutCommand({
      TableName: table.tableName,
      Item: tombstoneOf(message),
      ConditionExpression: '#state = :state',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':state': state },
    }),
  );
}

export function fromItem(item: Record<string, unknown>): HeldMessage {
  const { senderName, replyTo, cpim, subject, alert, owner, bounce, dead, ...rest } =
    MessageItemSchema.parse(item);
  return {
    ...rest,
    ...(senderName !== undefined ? { senderName } : {}),
    ...(replyTo !== undefined ? { replyTo } : {}),
    ...(cpim !== undefined ? { cpim: definedOnly(cpim) } : {}),
    ...(subject !== undefined ? { subject } : {}),
    ...(alert !== undefined ? { alert } : {}),
    ...(owner !== undefined ? { owner } : {}),
    ...(bounce !== undefined ? { bounce } : {}),
    ...(dead !== undefined ? { dead } : {}),
  };
}

/** A stored message item (not a tombstone) past its TTL is treated as absent. */
export function isLive(item: Record<string, unknown>, nowMs: number): boolean {
  return typeof item.state === 'string' && !(Number(item[TTL_ATTRIBUTE]) < nowSeconds(nowMs));
}

function definedOnly<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/** An IMDN Message-ID marker (a second dedupe key): pk DEDUPE#<key>, sk DEDUPE. */
export const markerKey = (key: string) => ({ pk: `DEDUPE#${key}`, sk: 'DEDUPE' });

// --- reads shared by the entities ---

/**
 * The recipient's messages at these places of the order index, whole, consistently: one query of
 * the range they span, filtered to them.
 */
export async function messagesAt(
  table: TableContext,
  recipient: string,
  refs: Array<{ receivedAt: string; id: string }>,
): Promise<HeldMessage[]> {
  if (refs.length === 0) return [];
  const orders = refs.map(orderOf).sort();
  const wanted = new Set(orders);
  const items = await queryAll(table.client, {
    TableName: table.tableName,
    IndexName: ORDER_INDEX,
    KeyConditionExpression: 'pk = :pk AND lsi1sk BETWEEN :first AND :last',
    ExpressionAttributeValues: {
      ':pk': keys.user(recipient),
      ':first': orders[0],
      ':last': orders.at(-1),
    },
    Select: 'ALL_ATTRIBUTES',
    ConsistentRead: true,
  });
  return items.filter((item) => wanted.has(String(item.lsi1sk))).map(fromItem);
}

// --- the port ---

export class DynamoMessages implements MessageStore {
  constructor(private readonly table: TableContext) {}

  async hold(message: HeldMessage, guard: HoldGuard, options: HoldOptions = {}): Promise<HoldOutcome> {
    // past the deadline the write is not attempted at all (it could land after the 503)
    if (options.deadline !== undefined && this.table.now() >= options.deadline) {
      throw new Error('the capture deadline passed before the store was written');
    }
    // Cut off at the caller's deadline: past it nobody waits for the answer (the edge says 503).
    const abortSignal =
      options.deadline === undefined
        ? undefined
        : AbortSignal.timeout(Math.max(1, options.deadline - this.table.now()));
    const callKey = dedupeKey('call', message.callId, String(message.cseq));
    const markers = guard.dedupeKeys.filter((key) => key !== callKey);

    // The quota is counted after the write, not in it: every message the recipient holds now,
    // this one included. The last counter of a set of racing captures sees them all, so the
    // quota is never passed; a message past it is taken back at once. Captures racing for the
    // last places may each see the others and all be refused (486, never silently dropped): the
    // store errs on the side of the quota.
    const written = await this.write(message, markers, abortSignal);
    if (written.outcome !== 'held') return written;
    // The same consistent query reads the presence as it is now (the capture/presence race).
    const { held: total, presence } = await heldAndPresence(this.table, message.recipient, guard.quota + 1, {
      ...(abortSignal ? { abortSignal } : {}),
    });
    if (total <= guard.quota) return { outcome: 'held', after: presence ? { presence } : {} };
    await this.withdraw(message, markers);
    return { outcome: 'quota', held: total - 1 };
  }

  /** The conditional write: the message, keyed by its dedupe key (and its IMDN marker). */
  private async write(
    message: HeldMessage,
    markers: string[],
    abortSignal: AbortSignal | undefined,
  ): Promise<HoldOutcome> {
    const { client, tableName } = this.table;
    const sendOptions = abortSignal ? { abortSignal } : {};
    const notThere = {
      ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':now': nowSeconds(this.table.now()) },
    };
    const put = { TableName: tableName, Item: messageItem(message), ...notThere };

    for (let attempt = 0; ; attempt++) {
      if (markers.length === 0) {
        try {
          await client.send(
            new PutCommand({ ...put, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
            sendOptions,
          );
          return { outcome: 'held' };
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
          const first = firstAnswer(error.Item) ?? (await this.firstOf(messageKey(message)));
          if (first) return { outcome: 'duplicate', ...first };
          if (attempt >= CONFLICT_RETRIES) throw error;
          continue; // the first vanished between the write and the read: try again
        }
      }
      // A second dedupe key (the IMDN Message-ID): its marker goes with the message, atomically.
      const ttl = epochSeconds(message.expiresAt) + GC_GRACE_SECONDS;
      try {
        await client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { ...put, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
              ...markers.map((key) => ({
                Put: {
                  TableName: tableName,
                  Item: {
                    ...markerKey(key),
                    messageId: message.id,
                    expiresAt: message.expiresAt,
                    [TTL_ATTRIBUTE]: ttl,
                  },
                  ...notThere,
                },
              })),
            ],
          }),
          sendOptions,
        );
        return { outcome: 'held' };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        const failed = [0, ...markers.map((_, index) => index + 1)].find(
          (index) => reasons[index]?.Code === 'ConditionalCheckFailed',
        );
        if (failed !== undefined) {
          const first =
            failed === 0
              ? (firstAnswer(reasons[0]?.Item) ?? (await this.firstOf(messageKey(message))))
              : await this.firstOf(markerKey(markers[failed - 1] ?? ''));
          if (first) return { outcome: 'duplicate', ...first };
          if (attempt >= CONFLICT_RETRIES) throw error;
          continue; // the first vanished between the write and the read: try again
        }
        const conflicted = reasons.some((reason) => reason.Code === 'TransactionConflict');
        if (!conflicted || attempt >= CONFLICT_RETRIES) throw error;
        await sleep(10 * 2 ** attempt * Math.random());
      }
    }
  }

  /** Takes back a message written past the quota, and its markers (only if still this one). */
  private async withdraw(message: HeldMessage, markers: string[]): Promise<void> {
    const { client, tableName } = this.table;
    await Promise.all([
      writeIf(
        client,
        new DeleteCommand({
          TableName: tableName,
          Key: messageKey(message),
          ConditionExpression: 'id = :id AND #state = :pending',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':id': message.id, ':pending': 'pending' },
        }),
      ),
      ...markers.map((key) =>
        writeIf(
          client,
          new DeleteCommand({
            TableName: tableName,
            Key: markerKey(key),
            ConditionExpression: 'messageId = :id',
            ExpressionAttributeValues: { ':id': message.id },
          }),
        ),
      ),
    ]);
  }

  /** The first answer kept on a message, its tombstone or an IMDN marker. */
  private async firstOf(key: Record<string, string>): Promise<{ id: string; expiresAt: string } | undefined> {
    const { Item } = await this.table.client.send(
      new GetCommand({ TableName: this.table.tableName, Key: key, ConsistentRead: true }),
    );
    const id = Item?.id ?? Item?.messageId;
    if (typeof id !== 'string' || typeof Item?.expiresAt !== 'string') return undefined;
    return { id, expiresAt: Item.expiresAt };
  }

  async listHeld(recipient: string, page: { limit?: number; after?: string } = {}): Promise<HeldPage> {
    const [{ Items = [], LastEvaluatedKey }, lease] = await Promise.all([
      this.table.client.send(
        new QueryCommand({
          TableName: this.table.tableName,
          IndexName: ORDER_INDEX,
          KeyConditionExpression: 'pk = :pk AND begins_with(lsi1sk, :msg)',
          ExpressionAttributeValues: { ':pk': keys.user(recipient), ':msg': keys.messagePrefix },
          Select: 'ALL_ATTRIBUTES',
          ConsistentRead: true,
          Limit: page.limit ?? 100,
          ...(page.after ? { ExclusiveStartKey: decodeCursor(page.after) } : {}),
        }),
      ),
      readLease(this.table, recipient),
    ]);
    const nowMs = this.table.now();
    const messages = Items.filter((item) => isLive(item, nowMs))
      .map(fromItem)
      .map((message) =>
        message.state === 'pending' && lease && covers(lease, orderOf(message))
          ? { ...message, state: 'delivering' as const, owner: lease.owner }
          : message,
      );
    return LastEvaluatedKey ? { messages, next: encodeCursor(LastEvaluatedKey) } : { messages };
  }

  /**
   * Operator statistics. A paginated scan: fine for an ops command, not for a hot path. Messages
   * in flight count as pending (in flight is a range on the lease, not a stored state).
   */
  async stats(): Promise<HeldStats> {
    const byState = Object.fromEntries(HELD_STATES.map((state) => [state, 0])) as Record<HeldState, number>;
    const recipients = new Set<string>();
    let oldest: string | undefined;
    const pages = paginateScan(
      { client: this.table.client },
      {
        TableName: this.table.tableName,
        FilterExpression: 'begins_with(sk, :msg) AND attribute_exists(#state)',
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
}

/** The id and expiry on the item a failed condition returned (raw attribute values). */
function firstAnswer(
  item: Record<string, { S?: string } | undefined> | undefined,
): { id: string; expiresAt: string } | undefined {
  const id = item?.id?.S;
  const expiresAt = item?.expiresAt?.S;
  return id && expiresAt ? { id, expiresAt } : undefined;
}

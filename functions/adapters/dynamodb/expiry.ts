// The ExpiryStore port: the sweeper's reads of the expiry index (gsi1, sharded), its claims, and
// the email step's reads and removals.
//
//   (gsi1) EXP#<shard>   <expiresAt>#<id>   on every held message: state, claimedAt, lsi1sk projected
//
// A claim of a pending message is a transaction with a ConditionCheck on the recipient's lease:
// no live delivery run has it in flight (lease.ts), so it is emailed XOR delivered.
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { EXPIRY_INDEX, keys, ORDER_INDEX } from '../../../shared/table.ts';
import type { ExpiryEntry, ExpiryStore } from '../../core/expiry.ts';
import type { HeldMessage } from '../../core/held-message.ts';
import { leaseKey, notInFlight } from './lease.ts';
import { messagesAt, orderOf, parseOrder, recipientOf, tombstoneIf } from './messages.ts';
import { VACATION_INDEX_PK } from './users.ts';
import { conditionally, queryAll, type TableContext, type TransactItem } from './writes.ts';

/** An expiry-index (or projected) item: the recipient in pk, its place in the order in lsi1sk. */
function entryOf(item: Record<string, unknown>): ExpiryEntry & { sk: string } {
  const expirySk = typeof item.gsi1sk === 'string' ? item.gsi1sk : '';
  return {
    recipient: recipientOf(item.pk),
    ...parseOrder(String(item.lsi1sk ?? '')),
    ...(expirySk ? { expiresAt: expirySk.slice(0, expirySk.indexOf('#')) } : {}),
    state: String(item.state ?? ''),
    ...(typeof item.claimedAt === 'number' ? { claimedAt: item.claimedAt } : {}),
    sk: String(item.sk ?? ''),
  };
}

type Keyed = ExpiryEntry & { key: { pk: string; sk: string }; stored: string };

/** Thrown inside a claim when the recipient's lease has some of the chunk in flight. */
class InFlight extends Error {}

export class DynamoExpiry implements ExpiryStore {
  constructor(private readonly table: TableContext) {}

  async due(
    shard: number,
    nowIso: string,
    after?: unknown,
  ): Promise<{ entries: ExpiryEntry[]; next?: unknown }> {
    const { Items = [], LastEvaluatedKey } = await this.table.client.send(
      new QueryCommand({
        TableName: this.table.tableName,
        IndexName: EXPIRY_INDEX,
        KeyConditionExpression: 'gsi1pk = :shard AND gsi1sk < :bound',
        // '$' sorts right after '#': every `<expiresAt>#<id>` with expiresAt ≤ now
        ExpressionAttributeValues: { ':shard': `EXP#${shard}`, ':bound': `${nowIso}$` },
        Limit: 500,
        ...(after ? { ExclusiveStartKey: after as Record<string, unknown> } : {}),
      }),
    );
    return {
      entries: Items.map(entryOf).map(withoutSk),
      ...(LastEvaluatedKey ? { next: LastEvaluatedKey } : {}),
    };
  }

  async earliestExpiry(shard: number): Promise<string | undefined> {
    const { Items = [] } = await this.table.client.send(
      new QueryCommand({
        TableName: this.table.tableName,
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
    const items = await queryAll(this.table.client, {
      TableName: this.table.tableName,
      IndexName: EXPIRY_INDEX,
      KeyConditionExpression: 'gsi1pk = :vacation AND gsi1sk > :now',
      ExpressionAttributeValues: { ':vacation': VACATION_INDEX_PK, ':now': nowIso },
    });
    return items.map((item) => recipientOf(item.pk));
  }

  async waiting(recipient: string): Promise<ExpiryEntry[]> {
    const items = await queryAll(this.table.client, {
      TableName: this.table.tableName,
      IndexName: ORDER_INDEX,
      KeyConditionExpression: 'pk = :pk AND begins_with(lsi1sk, :msg)',
      FilterExpression: '#state IN (:pending, :expiring)',
      // claimedAt is not in the order index: it is fetched (a vacationer's messages, rarely many)
      ProjectionExpression: 'pk, sk, lsi1sk, #state, claimedAt',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':pk': keys.user(recipient),
        ':msg': keys.messagePrefix,
        ':pending': 'pending',
        ':expiring': 'expiring',
      },
      ConsistentRead: true,
    });
    return items.map(entryOf).map(withoutSk);
  }

  /** The table keys and stored states of a recipient's messages at these places of the order index. */
  private async keysAt(
    recipient: string,
    entries: ExpiryEntry[],
  ): Promise<Map<string, { sk: string; state: string }>> {
    if (entries.length === 0) return new Map();
    const orders = entries.map(orderOf).sort();
    const items = await queryAll(this.table.client, {
      TableName: this.table.tableName,
      IndexName: ORDER_INDEX,
      KeyConditionExpression: 'pk = :pk AND lsi1sk BETWEEN :first AND :last',
      ExpressionAttributeValues: { ':pk': keys.user(recipient), ':first': orders[0], ':last': orders.at(-1) },
      ProjectionExpression: 'sk, lsi1sk, #state',
      ExpressionAttributeNames: { '#state': 'state' },
      ConsistentRead: true,
    });
    return new Map(
      items.map((item) => [String(item.lsi1sk), { sk: String(item.sk), state: String(item.state ?? '') }]),
    );
  }

  async claimForExpiry(entries: ExpiryEntry[], nowMs: number, staleBefore: number): Promise<ExpiryEntry[]> {
    const byRecipient = new Map<string, ExpiryEntry[]>();
    for (const entry of entries)
      byRecipient.set(entry.recipient, [...(byRecipient.get(entry.recipient) ?? []), entry]);
    const claimed: Keyed[] = [];
    for (const [recipient, list] of byRecipient) {
      const stored = await this.keysAt(recipient, list);
      const keyed = list.flatMap((entry) => {
        const found = stored.get(orderOf(entry));
        return found
          ? [{ ...entry, key: { pk: keys.user(recipient), sk: found.sk }, stored: found.state }]
          : [];
      });
      // A message stored pending may be in a live delivery run's range (in flight is a range on
      // the lease, not a state): it is claimed only with the lease's check, whatever the entry
      // said. Re-claims of expiring or bounced ones need none (a run never has them in flight).
      const checked = keyed.filter((entry) => entry.stored === 'pending' || entry.stored === 'delivering');
      const unchecked = keyed.filter((entry) => !checked.includes(entry));
      const action = (entry: (typeof keyed)[number]) => this.claimOf(entry, entry.key, nowMs, staleBefore);
      claimed.push(...(await conditionally(this.table.client, unchecked, action)));
      const leaseCheck = (chunk: typeof keyed): TransactItem[] => {
        const orders = chunk.map(orderOf).sort();
        return [
          {
            ConditionCheck: {
              TableName: this.table.tableName,
              Key: leaseKey(recipient),
              ...notInFlight(orders[0] ?? '', orders.at(-1) ?? '', nowMs),
            },
          },
        ];
      };
      try {
        claimed.push(
          ...(await conditionally(this.table.client, checked, action, leaseCheck, () => new InFlight())),
        );
      } catch (error) {
        if (!(error instanceof InFlight)) throw error;
        // Part of the range is in flight: each on its own, those in flight stay with the run.
        for (const entry of checked) {
          try {
            claimed.push(
              ...(await conditionally(this.table.client, [entry], action, leaseCheck, () => new InFlight())),
            );
          } catch (single) {
            if (!(single instanceof InFlight)) throw single;
          }
        }
      }
    }
    return claimed.map(({ key: _key, stored: _stored, ...entry }): ExpiryEntry => entry);
  }

  private claimOf(
    entry: ExpiryEntry,
    key: { pk: string; sk: string },
    nowMs: number,
    staleBefore: number,
  ): TransactItem {
    return entry.state === 'bounced'
      ? {
          // stays bounced, with a fresh claim: its notice is queued again
          Update: {
            TableName: this.table.tableName,
            Key: key,
            UpdateExpression: 'SET claimedAt = :now',
            ConditionExpression: '#state = :bounced AND claimedAt < :stale',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':bounced': 'bounced', ':now': nowMs, ':stale': staleBefore },
          },
        }
      : {
          Update: {
            TableName: this.table.tableName,
            Key: key,
            UpdateExpression: 'SET #state = :expiring, claimedAt = :now REMOVE #owner',
            // (pending or delivering: with the lease's check beside it, see claimForExpiry)
            ConditionExpression:
              '#state IN (:pending, :delivering) OR (#state = :expiring AND claimedAt < :stale)',
            ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
            ExpressionAttributeValues: {
              ':delivering': 'delivering',
              ':pending': 'pending',
              ':expiring': 'expiring',
              ':now': nowMs,
              ':stale': staleBefore,
            },
          },
        };
  }

  async expiring(recipient: string, refs: Array<{ id: string; receivedAt: string }>): Promise<HeldMessage[]> {
    const found = await messagesAt(this.table, recipient, refs);
    return found.filter((message) => message.state === 'expiring' || message.state === 'bounced');
  }

  /** expiring → its tombstone, each conditionally (a message settled otherwise meanwhile stays). */
  async removeExpired(messages: HeldMessage[]): Promise<void> {
    await Promise.all(messages.map((message) => tombstoneIf(this.table, message, 'expiring')));
  }
}

function withoutSk({ sk: _sk, ...entry }: ExpiryEntry & { sk: string }): ExpiryEntry {
  return entry;
}

// The BounceStore port: bounced messages until their notice settles them, then dead letters.
//
//   (gsi1) DEAD   <id>   on a dead letter, instead of its expiry entry; no TTL, no lsi1sk
//                        (kept until purged, no longer counted as held)
import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { EXPIRY_INDEX, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import type { BounceFacts, DeadFacts, HeldMessage, MessageRef } from '../../core/held-message.ts';
import type { BounceStore, DeadPage } from '../../core/ports.ts';
import { fromItem, messageKey, messagesAt, tombstoneIf } from './messages.ts';
import { decodeCursor, encodeCursor, getItems, queryAll, type TableContext, writeIf } from './writes.ts';

export const DEAD_INDEX_PK = 'DEAD';

export class DynamoBounces implements BounceStore {
  constructor(private readonly table: TableContext) {}

  /** Each a conditional UpdateItem, side by side (from `delivering`: the item is still `pending`). */
  async markBounced(
    bounces: Array<{ message: HeldMessage; bounce: BounceFacts }>,
    from: 'delivering' | 'expiring',
  ): Promise<HeldMessage[]> {
    const fromStates = from === 'delivering' ? ['pending', 'delivering'] : ['expiring'];
    const changed = await Promise.all(
      bounces.map(({ message, bounce }) =>
        writeIf(
          this.table.client,
          new UpdateCommand({
            TableName: this.table.tableName,
            Key: messageKey(message),
            UpdateExpression: 'SET #state = :bounced, bounce = :bounce, claimedAt = :at REMOVE #owner',
            ConditionExpression: `#state IN (${fromStates.map((_, i) => `:from${i}`).join(', ')})`,
            ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
            ExpressionAttributeValues: {
              ':bounced': 'bounced',
              ':bounce': bounce,
              ':at': bounce.at,
              ...Object.fromEntries(fromStates.map((state, i) => [`:from${i}`, state])),
            },
          }),
        ),
      ),
    );
    return bounces
      .filter((_, index) => changed[index])
      .map(({ message, bounce }) => ({ ...message, state: 'bounced' as const, bounce }));
  }

  async settleBounce(
    ref: MessageRef,
    outcome: { told: true } | { failed: string },
  ): Promise<'removed' | 'dead' | 'absent'> {
    const [message] = await messagesAt(this.table, ref.recipient, [ref]);
    if (message?.state !== 'bounced') return 'absent';
    if ('told' in outcome) {
      const removed = await tombstoneIf(this.table, message, 'bounced');
      return removed ? 'removed' : 'absent';
    }
    const dead: DeadFacts = { reason: outcome.failed, at: this.table.now() };
    const changed = await writeIf(
      this.table.client,
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: messageKey(message),
        // Out of the expiry index into the dead letters' list, out of the order index (no longer
        // held: quota, MWI), and no longer garbage-collected: kept until an operator purges it.
        UpdateExpression:
          'SET #state = :dead, dead = :facts, gsi1pk = :list, gsi1sk = :id REMOVE #ttl, lsi1sk',
        ConditionExpression: '#state = :bounced',
        ExpressionAttributeNames: { '#state': 'state', '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ':dead': 'dead',
          ':bounced': 'bounced',
          ':facts': dead,
          ':list': DEAD_INDEX_PK,
          ':id': message.id,
        },
      }),
    );
    return changed ? 'dead' : 'absent';
  }

  async listDead(page: { limit?: number; after?: string } = {}): Promise<DeadPage> {
    const { Items = [], LastEvaluatedKey } = await this.table.client.send(
      new QueryCommand({
        TableName: this.table.tableName,
        IndexName: EXPIRY_INDEX,
        KeyConditionExpression: 'gsi1pk = :list',
        ExpressionAttributeValues: { ':list': DEAD_INDEX_PK },
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
    const listed = await queryAll(this.table.client, {
      TableName: this.table.tableName,
      IndexName: EXPIRY_INDEX,
      KeyConditionExpression: byId ? 'gsi1pk = :list AND gsi1sk = :id' : 'gsi1pk = :list',
      ExpressionAttributeValues: { ':list': DEAD_INDEX_PK, ...(byId ? { ':id': which.id } : {}) },
    });
    // conditional deletes: only what is still a dead letter
    const results = await Promise.all(
      listed.map((item) =>
        writeIf(
          this.table.client,
          new DeleteCommand({
            TableName: this.table.tableName,
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
    return (await getItems(this.table, keyList)).map(fromItem);
  }
}

// The SessionStore on the single table: sign-in attempts per AOR and revoked tokens per jti, each
// an item with a TTL (garbage collection only: reads ignore an item whose time has passed).
//   SIGNIN#<aor>   SIGNIN    { count, nextAllowedMs, ttl }   replaced conditionally per attempt
//   REVOKED#<jti>  REVOKED   { ttl = the token's expiry }
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import * as z from '../../../shared/zod.ts';
import type { SessionStore, SignInRecord } from '../../core/session.ts';

const RecordItem = z.object({ count: z.number(), nextAllowedMs: z.number(), [TTL_ATTRIBUTE]: z.number() });
const seconds = (ms: number) => Math.ceil(ms / 1000);

export class DynamoSessionStore implements SessionStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async signInRecord(aor: string, nowMs: number): Promise<SignInRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.signIn(aor), sk: keys.signInSk },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const item = RecordItem.parse(Item);
    return item[TTL_ATTRIBUTE] * 1000 < nowMs
      ? undefined
      : { count: item.count, nextAllowedMs: item.nextAllowedMs };
  }

  async claimAttempt(
    aor: string,
    seen: SignInRecord | undefined,
    next: SignInRecord,
    keepUntilMs: number,
    nowMs: number,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: keys.signIn(aor),
            sk: keys.signInSk,
            count: next.count,
            nextAllowedMs: next.nextAllowedMs,
            [TTL_ATTRIBUTE]: seconds(keepUntilMs),
          },
          // Still what this attempt read: nothing (or only an item past its TTL), or the same record.
          ...(seen
            ? {
                ConditionExpression: '#count = :count AND nextAllowedMs = :next',
                ExpressionAttributeNames: { '#count': 'count' },
                ExpressionAttributeValues: { ':count': seen.count, ':next': seen.nextAllowedMs },
              }
            : {
                ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :nowSeconds',
                ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
                ExpressionAttributeValues: { ':nowSeconds': Math.floor(nowMs / 1000) },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async clearFailures(aor: string): Promise<void> {
    await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: keys.signIn(aor), sk: keys.signInSk } }),
    );
  }

  async revoke(jti: string, untilMs: number): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: keys.revoked(jti), sk: keys.revokedSk, [TTL_ATTRIBUTE]: seconds(untilMs) },
      }),
    );
  }

  async isRevoked(jti: string, nowMs: number): Promise<boolean> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.revoked(jti), sk: keys.revokedSk },
        ConsistentRead: true,
      }),
    );
    const until = Item?.[TTL_ATTRIBUTE];
    return typeof until === 'number' && until * 1000 >= nowMs;
  }
}

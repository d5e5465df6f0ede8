// The SessionStore on the single table: failed sign-ins per AOR and revoked tokens per jti, each
// an item with a TTL (garbage collection only: reads ignore an item whose time has passed).
//   SIGNIN#<aor>   SIGNIN    { count, lastAtMs, ttl }   ADD count on each failure
//   REVOKED#<jti>  REVOKED   { ttl = the token's expiry }
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import type { SessionStore, SignInFailures } from '../core/session.ts';
import { keys, TTL_ATTRIBUTE } from './table.ts';

const FailuresItem = z.object({ count: z.number(), lastAtMs: z.number(), [TTL_ATTRIBUTE]: z.number() });
const seconds = (ms: number) => Math.ceil(ms / 1000);

export class DynamoSessionStore implements SessionStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async signInFailures(aor: string, nowMs: number): Promise<SignInFailures | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.signIn(aor), sk: keys.signInSk },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const item = FailuresItem.parse(Item);
    return item[TTL_ATTRIBUTE] * 1000 < nowMs ? undefined : { count: item.count, lastAtMs: item.lastAtMs };
  }

  async recordFailure(aor: string, nowMs: number, keepUntilMs: number): Promise<number> {
    const Key = { pk: keys.signIn(aor), sk: keys.signInSk };
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: 'ADD #count :one SET lastAtMs = :now, #ttl = :ttl',
          // an item past its TTL that DynamoDB has not deleted yet starts over (below)
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl >= :nowSeconds',
          ExpressionAttributeNames: { '#count': 'count', '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ':one': 1,
            ':now': nowMs,
            ':ttl': seconds(keepUntilMs),
            ':nowSeconds': Math.floor(nowMs / 1000),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return FailuresItem.parse(Attributes).count;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...Key, count: 1, lastAtMs: nowMs, [TTL_ATTRIBUTE]: seconds(keepUntilMs) },
        }),
      );
      return 1;
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

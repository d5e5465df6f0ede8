// The NonceStore on the single table: one item per nonce used by a state-changing signed call,
// written with a conditional PutItem so that every Lambda instance sees every other's claims.
// Its TTL is the end of the signature's window; DynamoDB deletes lazily, so the condition also
// lets a claim overwrite an item whose time has passed.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import type { NonceStore } from '../../core/ports.ts';

export class DynamoNonces implements NonceStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(nonce: string, untilMs: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: keys.nonce(nonce), sk: keys.nonceSk, [TTL_ATTRIBUTE]: Math.ceil(untilMs / 1000) },
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
          ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':now': Math.floor(this.now() / 1000) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

// The ChatStore port on the single table (functions/adapters/dynamodb/table.ts has the other items):
//   pk CHAT#<id>   sk CHAT           a chat { id, to, visitor, name, email?, createdAt, seenAt, expiresAt, ttl }
//   pk CHAT#<id>   sk LINE#<lineId>  a line { id, from, name?, at, text, state, ttl }
// A chat and its lines are one partition, read with one Query (a chat keeps a bounded number of
// lines); every write is conditional on the item being there or not. TTL (the chat's expiresAt)
// is garbage collection only: reads ignore items past it.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { chatKeys, epochSeconds, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import { parseStoredChat, parseStoredLine } from '../../core/chat.ts';
import type { Chat, ChatLine, ChatLineState, ChatStore } from '../../core/ports.ts';

function conditionFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as Error)?.name === 'ConditionalCheckFailedException'
  );
}

export class DynamoChatStore implements ChatStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async createChat(chat: Chat): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: chatKeys.chat(chat.id),
          sk: chatKeys.chatSk,
          ...chat,
          [TTL_ATTRIBUTE]: epochSeconds(chat.expiresAt),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getChat(chatId: string): Promise<{ chat: Chat; lines: ChatLine[] } | undefined> {
    const nowSeconds = Math.floor(this.now() / 1000);
    let chat: Chat | undefined;
    const lines: ChatLine[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': chatKeys.chat(chatId) },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        if (Number(item[TTL_ATTRIBUTE]) <= nowSeconds) continue;
        if (item.sk === chatKeys.chatSk) chat = parseStoredChat(item);
        else if (String(item.sk).startsWith(chatKeys.linePrefix)) lines.push(parseStoredLine(item));
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return chat ? { chat, lines } : undefined;
  }

  async addLine(chatId: string, line: ChatLine, expiresAt: string): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: chatKeys.chat(chatId),
            sk: chatKeys.line(line.id),
            ...line,
            [TTL_ATTRIBUTE]: epochSeconds(expiresAt),
          },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async setLineState(chatId: string, lineId: string, state: ChatLineState): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: chatKeys.chat(chatId), sk: chatKeys.line(lineId) },
          UpdateExpression: 'SET #state = :state',
          ConditionExpression: 'attribute_exists(sk) AND #ttl > :now',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':state': state, ':now': Math.floor(this.now() / 1000) },
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async removeLine(chatId: string, lineId: string): Promise<void> {
    await this.client.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: chatKeys.chat(chatId), sk: chatKeys.line(lineId) },
      }),
    );
  }

  async touchChat(chatId: string, seenAt: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: chatKeys.chat(chatId), sk: chatKeys.chatSk },
          UpdateExpression: 'SET seenAt = :seen',
          // never back in time, and never recreating a chat that is gone
          ConditionExpression: 'attribute_exists(sk) AND seenAt < :seen',
          ExpressionAttributeValues: { ':seen': seenAt },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }
}

// The GroupStore port on the single table (shared/table.ts has the other items):
//   pk GROUPS             sk GROUP#<aor>        a group { aor, members, routing, public, email?, alertSenders, updatedAt }
//   pk MEMBER#<member>    sk GROUP#<aor>        a membership { group, routing }: a member's groups in one Query
//   pk GROUPQ#<aor>       sk IDLE               a queue's memory: attribute `m:<member>` = epoch ms of the last assignment
//   pk GROUPQ#<aor>       sk STICKY#<sender>    who has this sender's conversation { member, atMs } (TTL: a day)
// Groups are few and written by the operator; a capture to a group reads the group (GetItem) and,
// for a queue, its memory (two GetItems); a presence change reads the member's groups (Query).
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ROUTINGS, type Routing } from '../../../shared/contract/views.ts';
import { groupKeys, TTL_ATTRIBUTE } from '../../../shared/table.ts';
import * as z from '../../../shared/zod.ts';
import { type Group, type GroupStore, parseStoredGroup, type QueueState } from '../../core/groups.ts';

const STICKY_TTL_SECONDS = 86_400;

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export class DynamoGroupStore implements GroupStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getGroup(aor: string): Promise<Group | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: groupKeys.groups, sk: groupKeys.group(aor) } }),
    );
    return Item ? parseStoredGroup(Item) : undefined;
  }

  async putGroup(group: Group): Promise<void> {
    const before = await this.getGroup(group.aor);
    const gone = (before?.members ?? []).filter((member) => !group.members.includes(member));
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: { pk: groupKeys.groups, sk: groupKeys.group(group.aor), ...group },
        },
      },
      ...group.members.map(
        (member): TransactItem => ({
          Put: {
            TableName: this.tableName,
            Item: {
              pk: groupKeys.member(member),
              sk: groupKeys.group(group.aor),
              group: group.aor,
              routing: group.routing,
            },
          },
        }),
      ),
      ...gone.map(
        (member): TransactItem => ({
          Delete: {
            TableName: this.tableName,
            Key: { pk: groupKeys.member(member), sk: groupKeys.group(group.aor) },
          },
        }),
      ),
    ];
    await this.transact(items);
  }

  async removeGroup(aor: string): Promise<boolean> {
    const before = await this.getGroup(aor);
    if (before === undefined) return false;
    await this.transact([
      { Delete: { TableName: this.tableName, Key: { pk: groupKeys.groups, sk: groupKeys.group(aor) } } },
      { Delete: { TableName: this.tableName, Key: { pk: groupKeys.queue(aor), sk: groupKeys.idle } } },
      ...before.members.map(
        (member): TransactItem => ({
          Delete: {
            TableName: this.tableName,
            Key: { pk: groupKeys.member(member), sk: groupKeys.group(aor) },
          },
        }),
      ),
    ]);
    return true;
  }

  /** One transaction up to 100 items (MAX_MEMBERS keeps a group within it); more in steps. */
  private async transact(items: TransactItem[]): Promise<void> {
    for (let start = 0; start < items.length; start += 100) {
      await this.client.send(new TransactWriteCommand({ TransactItems: items.slice(start, start + 100) }));
    }
  }

  async listGroups(
    page: { limit?: number; after?: string } = {},
  ): Promise<{ groups: Group[]; next?: string }> {
    const { Items, LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': groupKeys.groups },
        Limit: page.limit ?? 100,
        ...(page.after
          ? { ExclusiveStartKey: { pk: groupKeys.groups, sk: groupKeys.group(page.after) } }
          : {}),
      }),
    );
    const groups = (Items ?? []).map(parseStoredGroup);
    const last = LastEvaluatedKey?.sk;
    const next = typeof last === 'string' ? last.slice(groupKeys.group('').length) : undefined;
    return next ? { groups, next } : { groups };
  }

  async groupsOf(member: string): Promise<Array<{ group: string; routing: Routing }>> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': groupKeys.member(member) },
      }),
    );
    const entry = z.object({ group: z.string(), routing: z.enum(ROUTINGS) });
    return (Items ?? []).map((item) => {
      const { group, routing } = entry.parse(item);
      return { group, routing };
    });
  }

  async queueState(group: string, sender: string): Promise<QueueState> {
    const [idle, sticky] = await Promise.all([
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: groupKeys.queue(group), sk: groupKeys.idle },
        }),
      ),
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: groupKeys.queue(group), sk: groupKeys.sticky(sender) },
        }),
      ),
    ]);
    const lastAssigned: Record<string, number> = {};
    for (const [name, value] of Object.entries(idle.Item ?? {})) {
      if (name.startsWith('m:') && typeof value === 'number') lastAssigned[name.slice(2)] = value;
    }
    const parsed = z.object({ member: z.string(), atMs: z.number() }).safeParse(sticky.Item);
    return { lastAssigned, ...(parsed.success ? { sticky: parsed.data } : {}) };
  }

  async recordAssignment(group: string, member: string, sender: string, atMs: number): Promise<void> {
    await Promise.all([
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: groupKeys.queue(group), sk: groupKeys.idle },
          UpdateExpression: 'SET #m = :at',
          ExpressionAttributeNames: { '#m': `m:${member}` },
          ExpressionAttributeValues: { ':at': atMs },
        }),
      ),
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: groupKeys.queue(group),
            sk: groupKeys.sticky(sender),
            member,
            atMs,
            [TTL_ATTRIBUTE]: Math.floor(atMs / 1000) + STICKY_TTL_SECONDS,
          },
        }),
      ),
    ]);
  }
}

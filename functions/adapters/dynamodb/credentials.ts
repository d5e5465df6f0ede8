// The CredentialStore port on the single table. All credentials live in one partition,
//   pk CREDENTIALS   sk USER#<aor>   { aor, realm, ha1Sha256, ha1Md5, admin, createdAt, updatedAt }
// so one Query lists the users and no per-user query of messages or settings (sk < MSG#) ever
// reads a hash. Reads by the edge are cached there, so the one partition is not hot.
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Credentials, CredentialsSchema } from '../../../shared/contract/views.ts';
import { keys } from '../../../shared/table.ts';
import * as z from '../../../shared/zod.ts';
import type { CredentialStore, UserListPage } from '../../core/credentials.ts';

const ItemSchema = z.object({
  aor: z.string(),
  realm: z.string(),
  ha1Sha256: z.string(),
  ha1Md5: z.string(),
  admin: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

function credentialsOf(item: Record<string, unknown>): Credentials {
  const stored = ItemSchema.parse(item);
  return CredentialsSchema.parse({
    aor: stored.aor,
    realm: stored.realm,
    ha1: { 'SHA-256': stored.ha1Sha256, MD5: stored.ha1Md5 },
    admin: stored.admin,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
  });
}

export class DynamoCredentialStore implements CredentialStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getCredentials(aor: string): Promise<Credentials | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.credentials, sk: keys.user(aor) } }),
    );
    return Item ? credentialsOf(Item) : undefined;
  }

  async putCredentials(
    entry: Omit<Credentials, 'createdAt' | 'updatedAt'>,
    nowIso: string,
  ): Promise<Credentials> {
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: keys.credentials, sk: keys.user(entry.aor) },
        UpdateExpression:
          'SET aor = :aor, realm = :realm, ha1Sha256 = :sha256, ha1Md5 = :md5, admin = :admin, ' +
          'updatedAt = :now, createdAt = if_not_exists(createdAt, :now)',
        ExpressionAttributeValues: {
          ':aor': entry.aor,
          ':realm': entry.realm,
          ':sha256': entry.ha1['SHA-256'],
          ':md5': entry.ha1.MD5,
          ':admin': entry.admin,
          ':now': nowIso,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    if (!Attributes) throw new Error(`credentials of ${entry.aor} were not returned after the update`);
    return credentialsOf(Attributes);
  }

  async deleteCredentials(aor: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: keys.credentials, sk: keys.user(aor) },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Attributes !== undefined;
  }

  async listUsers(page: { limit?: number; after?: string } = {}): Promise<UserListPage> {
    const { Items, LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.credentials },
        // never the hashes
        ProjectionExpression: 'aor, admin, createdAt, updatedAt',
        Limit: page.limit ?? 100,
        ...(page.after ? { ExclusiveStartKey: { pk: keys.credentials, sk: keys.user(page.after) } } : {}),
      }),
    );
    const users = (Items ?? []).map((item) =>
      z.pick(ItemSchema, { aor: true, admin: true, createdAt: true, updatedAt: true }).parse(item),
    );
    const last = LastEvaluatedKey?.sk;
    const next = typeof last === 'string' ? last.slice(keys.user('').length) : undefined;
    return next ? { users, next } : { users };
  }
}

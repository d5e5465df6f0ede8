// The CredentialStore adapter against DynamoDB Local: HA1s stored and read back, createdAt kept on
// a change, removal, and the listing (paged, never a hash); plus the use case that hashes a password.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoCredentialStore } from '../../functions/adapters/dynamodb/credentials.ts';
import { setCredentials } from '../../functions/core/credentials.ts';
import { InvalidRequestError } from '../../shared/errors.ts';
import { ha1Of } from '../../shared/sip-digest.ts';
import { keys } from '../../shared/table.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;
let credentials: DynamoCredentialStore;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  credentials = new DynamoCredentialStore(dynamo.client, dynamo.tableName);
});
afterAll(async () => {
  await dynamo?.stop();
});

const uniqueUser = () => `user-${ulid().toLowerCase()}`;

describe('DynamoCredentialStore against DynamoDB Local', () => {
  it('keeps only the HA1 hashes of a password, per algorithm, realm = the domain', async () => {
    const user = uniqueUser();
    const aor = `sip:${user}@example.com`;
    const stored = await setCredentials(credentials, aor, { password: 'correct horse' }, ['example.com']);
    expect(stored).toMatchObject({
      aor,
      realm: 'example.com',
      admin: false,
      ha1: {
        'SHA-256': ha1Of('SHA-256', user, 'example.com', 'correct horse'),
        MD5: ha1Of('MD5', user, 'example.com', 'correct horse'),
      },
    });
    expect(await credentials.getCredentials(aor)).toEqual(stored);
    const { Item } = await dynamo.client.send(
      new GetCommand({ TableName: dynamo.tableName, Key: { pk: keys.credentials, sk: keys.user(aor) } }),
    );
    expect(JSON.stringify(Item)).not.toContain('correct horse');
  });

  it('keeps createdAt when the password changes, and removes the credentials', async () => {
    const aor = `sip:${uniqueUser()}@example.com`;
    const first = await setCredentials(
      credentials,
      aor,
      { password: 'first password' },
      ['example.com'],
      new Date('2026-12-01T09:00:00Z'),
    );
    const second = await setCredentials(
      credentials,
      aor,
      { password: 'second password', admin: true },
      ['example.com'],
      new Date('2026-12-01T10:00:00Z'),
    );
    expect(second.createdAt).toBe(first.createdAt);
    expect(second.updatedAt).toBe('2026-12-01T10:00:00.000Z');
    expect(second.admin).toBe(true);
    expect(second.ha1.MD5).not.toBe(first.ha1.MD5);
    await expect(credentials.deleteCredentials(aor)).resolves.toBe(true);
    await expect(credentials.getCredentials(aor)).resolves.toBeUndefined();
    await expect(credentials.deleteCredentials(aor)).resolves.toBe(false);
  });

  it('refuses an AOR outside the served domains', async () => {
    await expect(
      setCredentials(credentials, 'sip:eve@elsewhere.example', { password: 'whatever1' }, ['example.com']),
    ).rejects.toThrow(InvalidRequestError);
  });

  it('lists users page by page, without hashes', async () => {
    const aors = [1, 2, 3].map(() => `sip:${uniqueUser()}@example.com`);
    for (const aor of aors)
      await setCredentials(credentials, aor, { password: 'list me please' }, ['example.com']);
    const seen: Array<Record<string, unknown>> = [];
    let after: string | undefined;
    do {
      const page = await credentials.listUsers({ limit: 2, ...(after ? { after } : {}) });
      seen.push(...(page.users as unknown as Array<Record<string, unknown>>));
      after = page.next;
    } while (after);
    expect(seen.map((user) => user.aor)).toEqual(expect.arrayContaining(aors));
    for (const user of seen)
      expect(Object.keys(user).sort()).toEqual(['admin', 'aor', 'createdAt', 'updatedAt']);
  });
});

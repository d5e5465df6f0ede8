// The SessionStore adapter against DynamoDB Local: failures counted atomically per AOR and
// forgotten after their time, revocations kept until the token's expiry and not after.
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoSessionStore } from '../../functions/adapters/dynamo-sessions.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;
let sessions: DynamoSessionStore;

beforeAll(async () => {
  dynamo = await startLocalDynamo('holdover-dynamo-sessions-test');
  sessions = new DynamoSessionStore(dynamo.client, dynamo.tableName);
});
afterAll(async () => {
  await dynamo?.stop();
});

const aor = () => `sip:s-${ulid().toLowerCase()}@example.com`;

describe('DynamoSessionStore', () => {
  it('counts concurrent failures of one AOR exactly, apart from other AORs, and clears them', async () => {
    const bob = aor();
    const now = Date.now();
    const counts = await Promise.all(
      Array.from({ length: 8 }, () => sessions.recordFailure(bob, now, now + 60_000)),
    );
    expect(counts.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await sessions.signInFailures(bob, now)).toEqual({ count: 8, lastAtMs: now });
    expect(await sessions.signInFailures(aor(), now)).toBeUndefined();
    await sessions.clearFailures(bob);
    expect(await sessions.signInFailures(bob, now)).toBeUndefined();
  });

  it('forgets failures past their time, also before DynamoDB deletes the item', async () => {
    const bob = aor();
    const now = Date.now();
    await sessions.recordFailure(bob, now, now + 10_000);
    await sessions.recordFailure(bob, now, now + 10_000);
    const later = now + 20_000;
    expect(await sessions.signInFailures(bob, later)).toBeUndefined();
    expect(await sessions.recordFailure(bob, later, later + 10_000)).toBe(1);
  });

  it('refuses a revoked token until its expiry', async () => {
    const jti = ulid();
    const now = Date.now();
    expect(await sessions.isRevoked(jti, now)).toBe(false);
    await sessions.revoke(jti, now + 60_000);
    expect(await sessions.isRevoked(jti, now)).toBe(true);
    expect(await sessions.isRevoked(jti, now + 120_000)).toBe(false);
  });
});

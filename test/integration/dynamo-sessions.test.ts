// The SessionStore adapter against DynamoDB Local: sign-in attempts taken one at a time per AOR
// (a conditional write) and forgotten after their time; revocations kept until the token's expiry.
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoSessionStore } from '../../functions/adapters/dynamodb/sessions.ts';
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
  it('replaces a sign-in record only if it is still what the attempt read: one of a burst wins', async () => {
    const bob = aor();
    const now = Date.now();
    const first = { count: 1, nextAllowedMs: now };
    expect(await sessions.claimAttempt(bob, undefined, first, now + 60_000, now)).toBe(true);
    expect(await sessions.signInRecord(bob, now)).toEqual(first);
    expect(await sessions.claimAttempt(bob, undefined, first, now + 60_000, now)).toBe(false);
    const wins = await Promise.all(
      Array.from({ length: 8 }, () =>
        sessions.claimAttempt(bob, first, { count: 2, nextAllowedMs: now }, now + 60_000, now),
      ),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await sessions.signInRecord(aor(), now)).toBeUndefined();
    await sessions.clearFailures(bob);
    expect(await sessions.signInRecord(bob, now)).toBeUndefined();
  });

  it('forgets a record past its time, also before DynamoDB deletes the item', async () => {
    const bob = aor();
    const now = Date.now();
    await sessions.claimAttempt(bob, undefined, { count: 3, nextAllowedMs: now }, now + 10_000, now);
    const later = now + 20_000;
    expect(await sessions.signInRecord(bob, later)).toBeUndefined();
    expect(
      await sessions.claimAttempt(bob, undefined, { count: 1, nextAllowedMs: later }, later + 10_000, later),
    ).toBe(true);
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

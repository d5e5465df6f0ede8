import { describe, expect, it } from 'vitest';
import type { Presence } from '../../functions/core/ports.ts';
import {
  applyPresenceUpdate,
  effectivePresence,
  holdsMessages,
  updatePresence,
} from '../../functions/core/presence.ts';
import { MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const BOB = 'sip:bob@example.com';

describe('presence rules', () => {
  it('is online while registered, offline when the registration lapses', () => {
    const registered = applyPresenceUpdate(
      undefined,
      { aor: BOB, state: 'online', contact: 'sip:bob@h', expires: 60, source: 'register' },
      NOW,
    );
    expect(effectivePresence(registered, NOW)).toEqual({ state: 'online', contact: 'sip:bob@h' });
    expect(effectivePresence(registered, NOW + 61_000)).toEqual({ state: 'offline' });
  });

  it('keeps a published state across REGISTER refreshes, and clears it with open', () => {
    let presence: Presence | undefined = applyPresenceUpdate(
      undefined,
      { aor: BOB, state: 'online', contact: 'sip:bob@h', expires: 600, source: 'register' },
      NOW,
    );
    presence = applyPresenceUpdate(presence, { aor: BOB, state: 'busy', source: 'publish' }, NOW);
    presence = applyPresenceUpdate(
      presence,
      { aor: BOB, state: 'online', contact: 'sip:bob@h', expires: 600, source: 'register' },
      NOW,
    );
    expect(effectivePresence(presence, NOW).state).toBe('busy');
    presence = applyPresenceUpdate(presence, { aor: BOB, state: 'online', source: 'publish' }, NOW);
    expect(effectivePresence(presence, NOW).state).toBe('online');
    expect(presence.version).toBe(4);
  });

  it('holds in the default states and in vacation, honouring per-user hold sets', () => {
    expect(holdsMessages('away', undefined, NOW)).toBe(true);
    expect(holdsMessages('online', undefined, NOW)).toBe(false);
    expect(holdsMessages('busy', { hold: ['offline'] }, NOW)).toBe(false);
    expect(
      holdsMessages('online', { vacation: { until: '2026-12-01T00:00:00Z', autoReply: 'x' } }, NOW),
    ).toBe(true);
  });
});

describe('updatePresence', () => {
  function setup() {
    const store = new MemoryStore();
    const queue = new MemoryQueue();
    return { store, queue, deps: { users: store, queue, now: () => NOW } };
  }

  it('queues one delivery run when a user with messages comes online', async () => {
    const { store, queue, deps } = setup();
    store.messages.push({ recipient: BOB, state: 'pending' } as never);
    const result = await updatePresence(
      { aor: 'sip:bob@EXAMPLE.com', state: 'online', contact: 'sip:bob@h', expires: 600, source: 'register' },
      deps,
    );
    expect(result).toEqual({ state: 'online', holding: false, delivery: 'queued' });
    expect(queue.jobs).toEqual([{ kind: 'deliver', recipient: BOB }]);
  });

  it('writes repeated identical updates once, and each one of an available user with messages starts a run', async () => {
    // Contract (docs/design.md "Message lifecycle"): a REGISTER refresh of an available user who still
    // has messages waiting starts a run; the lease serialises the runs, so extras are cheap.
    const { store, queue, deps } = setup();
    store.messages.push({ recipient: BOB, state: 'pending' } as never);
    const update = {
      aor: BOB,
      state: 'online' as const,
      contact: 'sip:bob@h',
      expires: 600,
      source: 'register' as const,
    };
    const results = await Promise.all(Array.from({ length: 50 }, () => updatePresence(update, deps)));
    expect(store.presence.get(BOB)?.version).toBe(1);
    expect(results.every((result) => result.delivery === 'queued')).toBe(true);
    expect(queue.jobs).toHaveLength(50);
  });

  it('starts a run on a refresh that changes nothing while messages wait, not when none do', async () => {
    const { store, queue, deps } = setup();
    const refresh = {
      aor: BOB,
      state: 'online' as const,
      contact: 'sip:bob@h',
      expires: 600,
      source: 'register' as const,
    };
    await updatePresence(refresh, deps);
    expect(queue.jobs).toEqual([]);
    store.messages.push({ recipient: BOB, state: 'pending' } as never); // stranded meanwhile
    await expect(updatePresence(refresh, deps)).resolves.toMatchObject({ delivery: 'queued' });
    await expect(
      updatePresence({ aor: BOB, state: 'online', source: 'publish' }, deps),
    ).resolves.toMatchObject({ delivery: 'queued' });
    expect(queue.jobs).toHaveLength(2);
  });

  it('does not queue for a user with nothing held, or who stays in a holding state', async () => {
    const { store, queue, deps } = setup();
    await updatePresence(
      { aor: BOB, state: 'online', contact: 'sip:bob@h', expires: 600, source: 'register' },
      deps,
    );
    store.messages.push({ recipient: 'sip:carol@example.com', state: 'pending' } as never);
    await updatePresence({ aor: 'sip:carol@example.com', state: 'busy', source: 'publish' }, deps);
    expect(queue.jobs).toEqual([]);
  });
});

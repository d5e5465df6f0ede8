// Presence: what state a user is in, whether that state holds their messages, and when a change
// should start a delivery run (docs/design.md "Message lifecycle").
import { normalizeAor } from '../../shared/aor.ts';
import type { PresenceState, PresenceUpdate } from '../../shared/contract/presence.ts';
import { DEFAULT_HOLD_STATES, type UserSettings } from '../../shared/contract/settings.ts';
import type { GroupStore } from './groups.ts';
import type { DeliveryQueue, Presence, PresenceSummary, UserStore } from './ports.ts';

export interface EffectivePresence {
  state: PresenceState;
  contact?: string;
}

export function effectivePresence(presence: Presence | undefined, nowMs: number): EffectivePresence {
  const state = presenceStateOf(presence && summaryOf(presence), nowMs);
  const registration = presence?.registration;
  return registration && Date.parse(registration.expiresAt) > nowMs
    ? { state, contact: registration.contact }
    : { state };
}

/** The state a presence is in at `nowMs`: published, else online while registered, else offline. */
export function presenceStateOf(summary: PresenceSummary | undefined, nowMs: number): PresenceState {
  const registered = summary?.registeredUntil !== undefined && Date.parse(summary.registeredUntil) > nowMs;
  return summary?.published ?? (registered ? 'online' : 'offline');
}

/** The part of a presence its state depends on. */
export function summaryOf(presence: Presence): PresenceSummary {
  return {
    ...(presence.published ? { published: presence.published } : {}),
    ...(presence.registration ? { registeredUntil: presence.registration.expiresAt } : {}),
  };
}

/** Whether a user in `state` has their messages held rather than delivered. */
export function holdsMessages(
  state: PresenceState,
  settings: UserSettings | undefined,
  nowMs: number,
): boolean {
  if (settings?.vacation && Date.parse(settings.vacation.until) > nowMs) return true;
  return (settings?.hold ?? DEFAULT_HOLD_STATES).includes(state);
}

/** Applies a change to what we know (any change is a sign of life); the version goes up by one. */
export function applyPresenceUpdate(
  previous: Presence | undefined,
  update: PresenceUpdate,
  nowMs: number,
): Presence {
  const next: Presence = {
    ...(previous?.registration ? { registration: previous.registration } : {}),
    ...(previous?.published ? { published: previous.published } : {}),
    version: (previous?.version ?? 0) + 1,
    updatedAt: new Date(nowMs).toISOString(),
  };
  if (update.source === 'register') {
    if (update.state === 'offline' || update.expires === 0 || update.contact === undefined) {
      delete next.registration;
    } else {
      next.registration = {
        contact: update.contact,
        expiresAt: new Date(nowMs + (update.expires ?? 3600) * 1000).toISOString(),
      };
    }
    // Going offline by REGISTER also clears a published state: the UA is gone.
    if (update.state === 'offline') delete next.published;
  } else if (update.source === 'publish') {
    // PUBLISH open (or a publication removed) means "back to what the registration says".
    if (update.state === 'online') delete next.published;
    else next.published = update.state;
  } else {
    // Another system (a Lync bridge, an XMPP gateway) knows the state outright, online included,
    // and may say where the user can be reached.
    next.published = update.state;
    if (update.contact !== undefined && update.expires !== 0) {
      next.registration = {
        contact: update.contact,
        expiresAt: new Date(nowMs + (update.expires ?? 3600) * 1000).toISOString(),
      };
    }
  }
  return next;
}

export interface PresenceDeps {
  users: UserStore;
  queue: DeliveryQueue;
  /** Groups: a member who becomes available takes the backlog of each queue they are in. */
  groups?: GroupStore;
  now: () => number;
}

export interface PresenceResult {
  state: PresenceState;
  /** Whether messages are held in this state. */
  holding: boolean;
  /** Whether this change started a delivery run. */
  delivery: 'queued' | 'none';
}

/**
 * Use case: record a presence change; whenever the user is available and reachable with
 * messages waiting — a transition, but also a REGISTER refresh or a PUBLISH that changes nothing
 * — start a delivery run (docs/design.md "Message lifecycle"): anything stranded gets another chance
 * at every sign of life. Runs for one recipient are serialised by the lease, so extra jobs are
 * cheap. The write is conditional on the version read.
 */
export async function updatePresence(update: PresenceUpdate, deps: PresenceDeps): Promise<PresenceResult> {
  const aor = normalizeAor(update.aor);
  for (let attempt = 0; attempt < 10; attempt++) {
    const nowMs = deps.now();
    const user = await deps.users.getUser(aor);
    const next = applyPresenceUpdate(user.presence, { ...update, aor }, nowMs);
    const after = effectivePresence(next, nowMs);
    if (!sameMeaning(user.presence, next)) {
      if (!(await deps.users.putPresence(aor, next, user.presence?.version ?? 0))) continue;
    }
    const holding = holdsMessages(after.state, user.settings, nowMs);
    const reachable = after.contact !== undefined || update.source !== 'register';
    // Read again after the write when nothing was waiting before it: a capture that landed in
    // between either saw this presence (and queued the run itself) or is seen here.
    const waiting = !holding && reachable && (user.held > 0 || (await deps.users.getUser(aor)).held > 0);
    if (!holding && reachable) await queueGroupBacklogs(aor, deps);
    if (waiting) {
      await deps.queue.enqueue({ kind: 'deliver', recipient: aor });
      return { state: after.state, holding, delivery: 'queued' };
    }
    return { state: after.state, holding, delivery: 'none' };
  }
  throw new Error(`presence of ${aor} changed concurrently ten times; try again`);
}

/**
 * An available member starts a run of each queue they belong to that holds messages nobody was
 * available for (the group's run hands them to the member idle longest, this one or another).
 */
async function queueGroupBacklogs(member: string, deps: PresenceDeps): Promise<void> {
  if (deps.groups === undefined) return;
  const queues = (await deps.groups.groupsOf(member)).filter((entry) => entry.routing === 'one');
  await Promise.all(
    queues.map(async ({ group }) => {
      if ((await deps.users.getUser(group)).held > 0) {
        await deps.queue.enqueue({ kind: 'deliver', recipient: group });
      }
    }),
  );
}

/**
 * Whether a change would tell us nothing new (a repeated webhook, a REGISTER refresh within
 * seconds): then nothing is written, so identical requests racing each other do not conflict.
 */
function sameMeaning(before: Presence | undefined, after: Presence): boolean {
  if (before === undefined) return false;
  const expiryMoved = Math.abs(
    Date.parse(after.registration?.expiresAt ?? '0') - Date.parse(before.registration?.expiresAt ?? '0'),
  );
  return (
    before.published === after.published &&
    before.registration?.contact === after.registration?.contact &&
    expiryMoved < 10_000
  );
}

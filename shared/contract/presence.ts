// The presence wire: `POST /v1/presence` from the edge (REGISTER, PUBLISH, lapsed bindings) or
// another system (a webhook), and the states a user can be in.
import * as z from '../zod.ts';

/** Presence states a user can be in; the hold set (shared/contract/settings.ts) is a subset. */
export const PRESENCE_STATES = ['offline', 'busy', 'dnd', 'brb', 'away', 'online'] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];

/** A presence change as the edge (REGISTER/PUBLISH) or another system (webhook) reports it. */
export const PresenceUpdateSchema = z.object({
  aor: z.string().check(z.minLength(1), z.maxLength(2048)),
  state: z.enum(PRESENCE_STATES),
  /** Where the user's UA can be reached (REGISTER Contact); only with source register. */
  contact: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  /** Registration lifetime in seconds. */
  expires: z.optional(z.int().check(z.gte(0), z.lte(86_400 * 7))),
  source: z.enum(['register', 'publish', 'webhook']),
});
export type PresenceUpdate = z.infer<typeof PresenceUpdateSchema>;

/** What the edge reports: a REGISTER's binding or its end, or a PUBLISHed state. */
export type PresenceReport =
  | { aor: string; state: 'online'; contact: string; expires: number; source: 'register' }
  | { aor: string; state: 'offline'; source: 'register' }
  | { aor: string; state: PresenceState; source: 'publish' };

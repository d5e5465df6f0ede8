import { parseDuration } from '../duration.ts';
import * as z from '../zod.ts';
import { PRESENCE_STATES, type PresenceState } from './presence.ts';

export const DEFAULT_HOLD_STATES: readonly PresenceState[] = ['offline', 'busy', 'dnd', 'brb', 'away'];

const durationText = z.string().check(
  z.refine(
    (text) => {
      try {
        parseDuration(text);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be a duration such as 30m, 72h or 7d' },
  ),
);

/** A user's settings, as stored and as accepted by `PUT /v1/users/{aor}/settings`. */
export const UserSettingsSchema = z.strictObject({
  email: z.optional(z.email({ message: 'must be an email address' })),
  expireAfter: z.optional(durationText),
  hold: z.optional(
    z
      .array(z.enum(PRESENCE_STATES))
      .check(z.refine((states) => !states.includes('online'), { message: 'cannot hold while online' })),
  ),
  onExpire: z.optional(z.enum(['email', 'bounce', 'drop'])),
  offlineNotice: z.optional(
    z
      .string()
      .check(
        z.minLength(1, 'must not be empty (clear it instead)'),
        z.maxLength(1000, 'must be at most 1000 characters'),
      ),
  ),
  /** Whether `GET /v1/availability/{aor}` tells this user's status to anyone who asks. */
  public: z.optional(z.boolean()),
  timeZone: z.optional(
    z.string().check(
      z.refine(
        (zone) => {
          try {
            new Intl.DateTimeFormat('en', { timeZone: zone });
            return true;
          } catch {
            return false;
          }
        },
        { message: 'must be an IANA time zone such as Europe/Berlin' },
      ),
    ),
  ),
  vacation: z.optional(
    z.object({
      until: z.iso.datetime({
        offset: true,
        message: 'must be a date and time such as 2026-12-28T00:00:00Z',
      }),
      autoReply: z
        .string()
        .check(
          z.minLength(1, 'a vacation needs an auto-reply text'),
          z.maxLength(1000, 'must be at most 1000 characters'),
        ),
    }),
  ),
});

export type UserSettings = z.infer<typeof UserSettingsSchema>;

import * as z from 'zod';
import { parseDuration } from '../duration.ts';
import { PRESENCE_STATES, type PresenceState } from './presence.ts';

export const DEFAULT_HOLD_STATES: readonly PresenceState[] = ['offline', 'busy', 'dnd', 'brb', 'away'];

const durationText = z.string().refine(
  (text) => {
    try {
      parseDuration(text);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a duration such as 30m, 72h or 7d' },
);

/** A user's settings, as stored and as accepted by `PUT /v1/users/{aor}/settings`. */
export const UserSettingsSchema = z
  .object({
    email: z.email({ message: 'must be an email address' }).optional(),
    expireAfter: durationText.optional(),
    hold: z
      .array(z.enum(PRESENCE_STATES))
      .refine((states) => !states.includes('online'), { message: 'cannot hold while online' })
      .optional(),
    onExpire: z.enum(['email', 'bounce', 'drop']).optional(),
    offlineNotice: z
      .string()
      .min(1, 'must not be empty (clear it instead)')
      .max(1000, 'must be at most 1000 characters')
      .optional(),
    /** Whether `GET /v1/availability/{aor}` tells this user's status to anyone who asks. */
    public: z.boolean().optional(),
    timeZone: z
      .string()
      .refine(
        (zone) => {
          try {
            new Intl.DateTimeFormat('en', { timeZone: zone });
            return true;
          } catch {
            return false;
          }
        },
        { message: 'must be an IANA time zone such as Europe/Berlin' },
      )
      .optional(),
    vacation: z
      .object({
        until: z.iso.datetime({
          offset: true,
          message: 'must be a date and time such as 2026-12-28T00:00:00Z',
        }),
        autoReply: z
          .string()
          .min(1, 'a vacation needs an auto-reply text')
          .max(1000, 'must be at most 1000 characters'),
      })
      .optional(),
  })
  .strict();

export type UserSettings = z.infer<typeof UserSettingsSchema>;

// What the API answers to its readers: the CLI, the console, the edge's credential and message
// count look-ups. One schema per wire object; the functions build them, the readers parse them,
// infra/openapi.ts documents them (docs/openapi.json).
import * as z from '../zod.ts';
import { PRESENCE_STATES } from './presence.ts';
import { UserSettingsSchema } from './settings.ts';

const Aor = z
  .string()
  .check(
    z.meta({ description: 'SIP address of record, `sip:user@host`', examples: ['sip:bob@example.com'] }),
  );
const Timestamp = z.iso.datetime({ offset: true });

/**
 * Where a held message is in its lifecycle (docs/design.md "Message lifecycle"):
 * pending → delivering → (deleted: delivered) | pending;
 * pending → expiring → (deleted: emailed) | bounced;
 * delivering | expiring → bounced → (deleted: the sender was told) | dead (the notice failed for
 * good: kept, listed for the operator until purged).
 */
export const HELD_STATES = ['pending', 'delivering', 'expiring', 'bounced', 'dead'] as const;
export type HeldState = (typeof HELD_STATES)[number];

/** A held message as its recipient or an operator sees it. */
export const HeldViewSchema = z.object({
  id: z.string(),
  from: Aor,
  fromName: z.optional(z.string()),
  to: Aor,
  body: z
    .nullable(z.string())
    .check(z.meta({ description: 'The decoded text; null for content that is not text' })),
  contentType: z.string(),
  innerContentType: z
    .optional(z.string())
    .check(z.meta({ description: 'The wrapped type of a message/cpim body' })),
  receivedAt: Timestamp,
  expiresAt: Timestamp,
  state: z.enum(HELD_STATES),
});
export type HeldView = z.infer<typeof HeldViewSchema>;

/** A bounced message whose notice to its sender failed for good. */
export const DeadLetterViewSchema = z.object({
  id: z.string(),
  from: Aor,
  to: Aor,
  body: z.nullable(z.string()),
  contentType: z.string(),
  receivedAt: Timestamp,
  bounce: z.nullable(
    z.object({
      status: z
        .int()
        .check(z.meta({ description: 'The final SIP status that refused it; 0 for a bounce on expiry' })),
      reason: z.string(),
      at: z.int().check(z.meta({ description: 'Epoch ms' })),
    }),
  ),
  reason: z.string().check(z.meta({ description: "Why the sender's notice failed for good" })),
  deadAt: z.nullable(Timestamp),
});
export type DeadLetterView = z.infer<typeof DeadLetterViewSchema>;

/** One page of a listing: `{<key>: [...], next?}`. */
export const PageSchema = <Item extends z.core.$ZodType, Key extends string>(key: Key, item: Item) =>
  z.object({
    [key]: z.array(item),
    next: z
      .optional(z.string())
      .check(z.meta({ description: 'Cursor for the next page (`after`), absent on the last' })),
  } as { [K in Key]: z.ZodMiniArray<Item> } & { next: z.ZodMiniOptional<z.ZodMiniString> });

export const ROUTINGS = ['one', 'all'] as const;
export type Routing = (typeof ROUTINGS)[number];

/**
 * What becomes of a member's alert copy (mail → IM) that expired undelivered: `drop` (the
 * default: an alert came by mail, mailing it back could loop) or `email` (in the member's digest).
 */
export const ALERT_EXPIRY_POLICIES = ['drop', 'email'] as const;
export type AlertExpiryPolicy = (typeof ALERT_EXPIRY_POLICIES)[number];

export const GroupViewSchema = z.object({
  aor: Aor,
  members: z.array(Aor),
  routing: z.enum(ROUTINGS),
  public: z.boolean(),
  email: z.optional(z.string()),
  alertSenders: z.array(z.string()),
  onExpire: z
    .enum(ALERT_EXPIRY_POLICIES)
    .check(z.meta({ description: 'What becomes of an alert copy that expired undelivered' })),
  updatedAt: Timestamp,
});
export type GroupView = z.infer<typeof GroupViewSchema>;

/** One line of `GET /v1/users`: never a hash. */
export const UserListingSchema = z.object({
  aor: Aor,
  admin: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type UserListing = z.infer<typeof UserListingSchema>;

const Hex = (length: number) => z.string().check(z.regex(new RegExp(`^[0-9a-f]{${length}}$`)));

/** What is stored per AOR, and what the edge gets from `GET /v1/credentials/{aor}`. */
export const CredentialsSchema = z.object({
  aor: z.string(),
  realm: z.string(),
  ha1: z.object({ 'SHA-256': Hex(64), MD5: Hex(32) }),
  admin: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Credentials = z.infer<typeof CredentialsSchema>;

/** `PUT /v1/users/{aor}/credentials`: the user, without the hashes. */
export const CredentialsSetSchema = z.omit(CredentialsSchema, { ha1: true });
/** `GET /v1/credentials/{aor}`: what the edge checks a digest answer with. */
export const CredentialsCheckSchema = z.pick(CredentialsSchema, {
  aor: true,
  realm: true,
  ha1: true,
  admin: true,
});

export const StatsSchema = z.object({
  byState: z.object(Object.fromEntries(HELD_STATES.map((state) => [state, z.int()]))),
  recipients: z.int(),
  oldestReceivedAt: z.optional(Timestamp),
});

export const SettingsAnswerSchema = z.object({ aor: Aor, settings: UserSettingsSchema });

/** `GET /v1/users/{aor}/summary`: the count the edge's message-waiting NOTIFYs carry. */
export const SummarySchema = z.object({ aor: Aor, waiting: z.int().check(z.gte(0)) });
export type Summary = z.infer<typeof SummarySchema>;

export const PurgedSchema = z.object({ purged: z.int() });
export const RemovedSchema = z.object({ aor: Aor, removed: z.literal(true) });

const Role = z.enum(['user', 'admin']);

export const SignedInSchema = z.object({
  token: z.string().check(z.meta({ description: 'JWT (HS256): sub = the AOR, role, jti, exp' })),
  expiresAt: Timestamp,
  aor: Aor,
  role: Role,
});

export const MintedTokenSchema = z.object({ aor: Aor, role: Role, token: z.string(), expiresAt: Timestamp });

export const MeSchema = z.object({
  aor: Aor,
  role: Role,
  held: z.int(),
  settings: UserSettingsSchema,
  presence: z.enum(PRESENCE_STATES),
  expiresAt: z.optional(Timestamp),
});

/** `GET /v1/availability/{aor}`: what a web page may learn about a public user or group. */
export const AvailabilitySchema = z.object({
  aor: Aor,
  kind: z.optional(z.enum(['user', 'group'])).check(z.meta({ description: 'Absent when `na`' })),
  status: z.enum(['active', 'away', 'na']),
  available: z.int(),
});

/** A member's outcome of an alert from email: `delivering`/`held` until it is final. */
export const ALERT_OUTCOMES = ['delivering', 'held', 'delivered', 'emailed', 'dropped', 'failed'] as const;
export type AlertOutcome = (typeof ALERT_OUTCOMES)[number];

/** `GET /v1/alerts`: one alert from email (one mail, one group) with each member's outcome. */
export const AlertViewSchema = z.object({
  id: z
    .string()
    .check(
      z.meta({ description: 'Derived from the group and the mail’s Message-ID: the same mail is one alert' }),
    ),
  group: Aor,
  from: z.string().check(z.meta({ description: 'The sender’s address (From), lower case' })),
  subject: z.string(),
  messageId: z.optional(z.string()),
  receivedAt: Timestamp,
  dispatched: z.boolean(),
  members: z.array(
    z.object({
      member: Aor,
      outcome: z.enum(ALERT_OUTCOMES),
      messageId: z
        .optional(z.string())
        .check(z.meta({ description: 'The held message of the member’s copy' })),
      at: Timestamp,
      detail: z.optional(z.string()),
    }),
  ),
});
export type AlertView = z.infer<typeof AlertViewSchema>;

/** One line of a click-to-chat conversation as the visitor's page reads it. */
export const ChatLineViewSchema = z.object({
  id: z.string(),
  from: Aor.check(z.meta({ description: 'The visitor AOR, or the AOR of the person who answered' })),
  name: z.optional(z.string()),
  at: Timestamp,
  text: z.string(),
  state: z.enum(['held', 'delivered']),
});

/** `POST /v1/chats`: the chat started, its token and the visitor's SIP AOR. */
export const ChatStartedSchema = z.object({
  chatId: z.string(),
  token: z
    .string()
    .check(z.meta({ description: 'A chat token (JWT) for this chat only: `Authorization: Bearer`' })),
  visitor: Aor.check(
    z.meta({
      description: "The visitor's SIP AOR, the From of their lines: sip:chat-<id>@<domain>",
    }),
  ),
  expiresAt: Timestamp,
  status: z
    .enum(['active', 'away'])
    .check(z.meta({ description: 'The availability of the user or group now' })),
});

/** `GET /v1/chats/{chatId}/messages`: the whole conversation and a cursor for the long poll. */
export const ChatConversationSchema = z.object({
  chatId: z.string(),
  to: Aor,
  visitor: Aor,
  status: z.enum(['open', 'ended']),
  lines: z.array(ChatLineViewSchema),
  cursor: z.string(),
});

// The OpenAPI 3.1 description of the HTTP API, generated: the routes come from the catalogue
// (infra/catalogue.ts, the same list the construct deploys), the request bodies from the zod
// schemas the handlers parse with, the answers from the contract's views (shared/contract/). `npm run openapi` writes docs/openapi.json; test/unit/openapi.test.ts fails when the
// committed file is not what this produces.
//
// Usage: npm run openapi            (writes docs/openapi.json)
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod';
import { ChatTextSchema, StartChatSchema } from '../functions/core/chat.ts';
import { SetCredentialsSchema } from '../functions/core/credentials.ts';
import { GroupInputSchema } from '../functions/core/groups.ts';
import { SignInSchema } from '../functions/core/session.ts';
import {
  CaptureAnswerSchema,
  CaptureBatchAnswerSchema,
  CaptureBatchRequestSchema,
  CaptureRequestSchema,
} from '../shared/contract/capture.ts';
import { ErrorAnswerSchema } from '../shared/contract/error.ts';
import { PRESENCE_STATES, PresenceUpdateSchema } from '../shared/contract/presence.ts';
import { UserSettingsSchema } from '../shared/contract/settings.ts';
import {
  AlertViewSchema,
  AvailabilitySchema,
  ChatConversationSchema,
  ChatLineViewSchema,
  ChatStartedSchema,
  CredentialsCheckSchema,
  CredentialsSetSchema,
  DeadLetterViewSchema,
  GroupViewSchema,
  HeldViewSchema,
  MeSchema,
  MintedTokenSchema,
  PageSchema,
  PurgedSchema,
  RemovedSchema,
  SettingsAnswerSchema,
  SignedInSchema,
  StatsSchema,
  SummarySchema,
  UserListingSchema,
} from '../shared/contract/views.ts';
import { type Caller, type FunctionEntry, HOLDOVER_FUNCTIONS, type HttpTrigger } from './catalogue.ts';

export const OPENAPI_FILE = path.resolve(import.meta.dirname, '..', 'docs', 'openapi.json');

interface RouteDoc {
  summary: string;
  request?: z.core.$ZodType;
  answer: z.core.$ZodType;
  /** Default application/json; the console's page and files are text. */
  contentType?: string;
  /** 200 unless noted. */
  status?: number;
  errors?: Record<number, string>;
  query?: Record<string, string>;
}

const LIST_QUERY = {
  limit: 'Most items in one page, 1–1000 (default 100)',
  after: 'The `next` cursor of the previous page',
};

async function routeDocs(): Promise<Record<string, RouteDoc>> {
  return {
    capture: {
      summary: 'Capture a MESSAGE for an absent recipient (202 only once it is stored)',
      request: CaptureRequestSchema,
      status: 202,
      answer: CaptureAnswerSchema.def.options[0],
      errors: {
        200: 'Not stored: an is-composing indication (`{status: "ignored", reason}`)',
        404: 'The recipient is outside the served domains',
        413: 'The body is over the size limit',
        415: 'Content type or charset not supported, or the body is invalid in its charset',
        429: "The recipient's mailbox is full (SIP 486)",
        503: 'Past the capture deadline: nothing stored',
      },
    },
    captureBatch: {
      summary:
        'Capture several MESSAGEs that reached the edge together (each answered as POST /v1/messages would)',
      request: CaptureBatchRequestSchema,
      status: 200,
      answer: CaptureBatchAnswerSchema,
      errors: {},
    },
    presence: {
      summary: "A user's presence changed (REGISTER, PUBLISH, or another presence system)",
      request: PresenceUpdateSchema,
      answer: z.object({
        state: z.enum(PRESENCE_STATES),
        holding: z.boolean().meta({ description: 'Whether messages are held in this state' }),
        delivery: z.enum(['queued', 'none']).meta({ description: 'Whether a delivery run was started' }),
      }),
    },
    held: {
      summary: 'The messages held for a user, oldest first',
      query: LIST_QUERY,
      answer: PageSchema('messages', HeldViewSchema),
    },
    summary: {
      summary: 'How many messages wait for a user (MWI)',
      answer: SummarySchema,
    },
    getSettings: {
      summary: "A user's settings",
      answer: SettingsAnswerSchema,
    },
    putSettings: {
      summary: "Replace a user's settings (the whole object)",
      request: UserSettingsSchema,
      answer: SettingsAnswerSchema,
    },
    putCredentials: {
      summary: "Set a user's SIP password (stored as digest HA1 hashes only)",
      request: SetCredentialsSchema,
      answer: CredentialsSetSchema,
      errors: { 404: 'The AOR is outside the served domains' },
    },
    deleteCredentials: {
      summary: "Remove a user's SIP credentials",
      answer: RemovedSchema,
      errors: { 404: 'The user has no credentials' },
    },
    listUsers: {
      summary: 'The users with SIP credentials (never their hashes)',
      query: LIST_QUERY,
      answer: PageSchema('users', UserListingSchema),
    },
    getCredentials: {
      summary: "A user's HA1 hashes, to check a digest answer (the edge caches them briefly)",
      answer: CredentialsCheckSchema,
      errors: { 404: 'The user has no credentials' },
    },
    stats: {
      summary: 'Counts by state and the oldest held message',
      answer: StatsSchema,
    },
    dead: {
      summary: 'Dead letters: bounced messages whose notice to the sender failed for good',
      query: LIST_QUERY,
      answer: PageSchema('messages', DeadLetterViewSchema),
    },
    listAlerts: {
      summary: 'Alerts from email, newest first, with each member’s outcome',
      query: { ...LIST_QUERY, group: 'Only this group’s alerts (its AOR)' },
      answer: PageSchema('alerts', AlertViewSchema),
    },
    deadPurgeOne: {
      summary: 'Delete one dead letter',
      answer: PurgedSchema,
    },
    deadPurgeAll: {
      summary: 'Delete every dead letter',
      answer: PurgedSchema,
    },
    signIn: {
      summary: 'Sign in with the SIP password: a bearer token of at most an hour',
      request: SignInSchema,
      answer: SignedInSchema,
      errors: {
        401: 'Wrong address or password',
        429: 'Too many failed sign-ins for this address: wait `Retry-After` seconds',
      },
    },
    signOut: {
      summary: 'Sign out: the bearer token is refused from now on',
      answer: z.object({ signedOut: z.boolean(), reason: z.string().optional() }),
    },
    mintToken: {
      summary: 'A bearer token for a user, for scripts (`npx holdover token <aor>`)',
      answer: MintedTokenSchema,
    },
    me: {
      summary: 'Who the token is for, with their held count, settings and presence',
      answer: MeSchema,
    },
    myMessages: {
      summary: "The token holder's held messages, oldest first",
      query: LIST_QUERY,
      answer: PageSchema('messages', HeldViewSchema),
    },
    getMySettings: {
      summary: "The token holder's settings",
      answer: SettingsAnswerSchema,
    },
    putMySettings: {
      summary:
        "Replace the token holder's settings (the whole object); 400 lists each field's problem in `error.issues`",
      request: UserSettingsSchema,
      answer: SettingsAnswerSchema,
    },
    console: {
      summary: 'The web console (HTML; strict Content-Security-Policy)',
      contentType: 'text/html',
      answer: z.string(),
    },
    consoleAsset: {
      summary: "The console's script (`app.js`) and stylesheet (`console.css`)",
      contentType: 'text/javascript',
      answer: z.string(),
      errors: { 404: 'No such file' },
    },
    putGroup: {
      summary: 'Set (replace) a group: a distribution list (`all`) or a queue (`one`)',
      request: GroupInputSchema,
      answer: GroupViewSchema,
    },
    getGroup: {
      summary: 'A group',
      answer: GroupViewSchema,
      errors: { 404: 'Not a group' },
    },
    listGroups: {
      summary: 'The groups',
      query: LIST_QUERY,
      answer: PageSchema('groups', GroupViewSchema),
    },
    deleteGroup: {
      summary: 'Remove a group',
      answer: RemovedSchema,
      errors: { 404: 'Not a group' },
    },
    availability: {
      summary:
        'Whether a public user or group is available (CORS open, cacheable 5 s; `Accept: text/plain` gives the status word). Not public and unknown answer alike: `{aor, status: "na", available: 0}`',
      answer: AvailabilitySchema,
      errors: { 429: 'Too many requests from this client address (`Retry-After` says when to ask again)' },
    },
    availabilityPreflight: {
      summary: 'CORS preflight of the availability route',
      status: 204,
      answer: z.object({}),
    },
    startChat: {
      summary:
        'Start a chat with a public user or group (CORS; rate-limited per client address). Anything not public answers 404 exactly as an unknown address',
      request: StartChatSchema,
      status: 201,
      answer: ChatStartedSchema,
      errors: {
        404: 'No public user or group has this address',
        429: 'Too many chats started from this client address (`Retry-After`)',
      },
    },
    chatPostLine: {
      summary:
        "The visitor's line: sent as a SIP MESSAGE From the visitor AOR to the user, or to the member the queue chose; held like any message while nobody is available",
      request: ChatTextSchema,
      status: 201,
      answer: z.object({ line: ChatLineViewSchema }),
      errors: {
        404: 'The chat is not known (or is over)',
        410: 'The chat has ended (its visitor was quiet too long): start a new one',
        413: 'The body is larger than 16 KiB',
        429: 'Too many lines in this chat or from this address (`Retry-After`), or the chat or recipient is full',
      },
    },
    chatRead: {
      summary:
        'The conversation (long poll): answers at once when `cursor` differs from `after`, else when something changes, or after `wait` seconds',
      query: {
        after: 'The `cursor` of the previous answer',
        wait: 'Seconds to wait for a change, 0–20 (default 20)',
      },
      answer: ChatConversationSchema,
      errors: { 404: 'The chat is not known (or is over)', 429: 'Polled too often (`Retry-After`)' },
    },
    chatPage: {
      summary: 'The click-to-chat page for a public user or group (HTML; strict Content-Security-Policy)',
      contentType: 'text/html',
      answer: z.string(),
    },
    chatScript: {
      summary:
        'The embeddable click-to-chat script: `<script src=".../chat.js" data-holdover-to="sip:…" defer></script>`',
      contentType: 'text/javascript',
      answer: z.string(),
    },
    chatsPreflight: {
      summary: 'CORS preflight of POST /v1/chats',
      status: 204,
      answer: z.object({}),
    },
    chatMessagesPreflight: {
      summary: "CORS preflight of a chat's lines",
      status: 204,
      answer: z.object({}),
    },
    health: {
      summary: 'Liveness of the API and its table (says nothing about stored data)',
      answer: z.object({
        status: z.enum(['ok', 'unavailable']),
        parts: z.record(z.string(), z.string()),
      }),
      errors: { 503: 'The table is not reachable or not active (same body, status `unavailable`)' },
    },
  };
}

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.core.$ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** Who may call (the catalogue's `who`) as OpenAPI security alternatives. */
function securityOf(who: readonly Caller[]): Record<string, string[]>[] {
  if (who.includes('public')) return [];
  return [
    ...(who.includes('operator') ? [{ holdoverSignature: [] }] : []),
    ...(who.includes('chat') ? [{ chatToken: [] }] : []),
    ...(who.some((caller) => caller !== 'operator' && caller !== 'chat') ? [{ bearerToken: [] }] : []),
  ];
}

/** The document, built from the catalogue and the schemas; deterministic, so it can be compared. */
export async function buildOpenApi(functions: readonly FunctionEntry[] = HOLDOVER_FUNCTIONS) {
  const docs = await routeDocs();
  const paths: Record<string, Record<string, unknown>> = {};
  const errorRef = { $ref: '#/components/schemas/Error' };
  for (const entry of functions) {
    if (entry.trigger.kind !== 'http') continue;
    const trigger: HttpTrigger = entry.trigger;
    const doc = docs[entry.name];
    if (!doc) throw new Error(`infra/openapi.ts has no description of the ${entry.name} route: add one`);
    const pathParameters = [...trigger.path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
      description:
        name === 'aor'
          ? 'SIP address of record, percent-encoded as one segment (`sip%3Abob%40example.com`)'
          : name === 'chatId'
            ? 'The chat id from POST /v1/chats'
            : 'Message id',
    }));
    const queryParameters = Object.entries(doc.query ?? {}).map(([name, description]) => ({
      name,
      in: 'query',
      required: false,
      schema:
        name === 'limit' ? { type: 'integer', minimum: 1, maximum: 1000, default: 100 } : { type: 'string' },
      description,
    }));
    const success = String(doc.status ?? 200);
    const responses: Record<string, unknown> = {
      [success]: {
        description: 'Done',
        content: { [doc.contentType ?? 'application/json']: { schema: jsonSchema(doc.answer, 'output') } },
      },
      ...(doc.request
        ? {
            400: {
              description:
                'The body is not valid JSON or not what the route takes (`error.message` says which field)',
              content: { 'application/json': { schema: errorRef } },
            },
          }
        : {}),
      ...Object.fromEntries(
        Object.entries(doc.errors ?? {}).map(([status, description]) => [
          status,
          status === '200'
            ? { description, content: { 'application/json': { schema: { type: 'object' } } } }
            : { description, content: { 'application/json': { schema: errorRef } } },
        ]),
      ),
      ...(trigger.who.includes('public')
        ? {}
        : {
            401: {
              description:
                'Not signed and no token, or the signature or token is refused (`error.reason` names the fault)',
              content: { 'application/json': { schema: errorRef } },
            },
            403: {
              description:
                "A valid caller this route is not for (a user's token on another user's data or on an operator route)",
              content: { 'application/json': { schema: errorRef } },
            },
          }),
      500: {
        description: 'Internal error; `error.correlationId` finds its log lines',
        content: { 'application/json': { schema: errorRef } },
      },
    };
    paths[trigger.path] ??= {};
    const operation = {
      operationId: entry.name,
      summary: doc.summary,
      description: `Who may call: ${trigger.who.join(', ')} (infra/catalogue.ts). Handler: ${entry.entry} (${entry.handler}).`,
      security: securityOf(trigger.who),
      ...(pathParameters.length + queryParameters.length > 0
        ? { parameters: [...pathParameters, ...queryParameters] }
        : {}),
      ...(doc.request
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(doc.request, 'input') } },
            },
          }
        : {}),
      responses,
    };
    (paths[trigger.path] as Record<string, unknown>)[trigger.method.toLowerCase()] = operation;
  }
  const sortedPaths = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Holdover HTTP API',
      version: '1',
      description:
        'The API between the SIP edge, operators (the `npx holdover` CLI), people (the web console, with a ' +
        'token) and other systems, and the ' +
        'functions behind API Gateway. Generated from infra/catalogue.ts and the zod schemas by ' +
        '`npm run openapi`; docs/design.md explains the contract.',
    },
    servers: [
      { url: 'http://127.0.0.1:3000', description: '`npm start`' },
      { url: 'https://{apiId}.execute-api.{region}.amazonaws.com', description: 'AWS (stack output ApiUrl)' },
    ],
    paths: sortedPaths,
    components: {
      schemas: { Error: jsonSchema(ErrorAnswerSchema, 'output') },
      securitySchemes: {
        chatToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'The token of POST /v1/chats: opens that chat only (no user route; no user token opens a chat).',
        },
        bearerToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A token from POST /v1/session (or `npx holdover token`), at most an hour: `admin` tokens reach the ' +
            "operator routes, `user` tokens the caller's own data (/v1/me…, and /v1/users/{aor}/… for their own AOR).",
        },
        holdoverSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Holdover-Signature',
          description:
            'Signature v2 with the shared secret (HOLDOVER_SECRET), with two more headers: ' +
            '`X-Holdover-Timestamp: <unix seconds>` (±300 s) and `X-Holdover-Nonce: <≥ 16 random bytes, base64url>`, ' +
            'used once for a call that changes state. `X-Holdover-Signature: v2=<hex HMAC-SHA256(secret, ' +
            'METHOD + "\\n" + PATH + "?" + QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + hex(SHA-256(raw body)))>`, ' +
            'PATH in canonical percent-encoding (each segment decoded, then encodeURIComponent), QUERY as sent ' +
            'without `?`. See docs/design.md "Signing".',
        },
      },
    },
  };
}

/** The document as committed: two-space JSON with a final newline. */
export async function renderOpenApi(): Promise<string> {
  return `${JSON.stringify(await buildOpenApi(), null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  fs.writeFileSync(OPENAPI_FILE, await renderOpenApi());
  console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}`);
}

// Every Lambda function of Holdover, one declarative entry each: which file, which export, what
// triggers it, which settings it reads and which resources it may touch. The construct turns an
// entry into a function, its log group, its trigger, its environment and its IAM grants; nothing
// else in infra/ names a function. No aws-cdk-lib import, so tests and benchmarks can read it.

/**
 * Who may call an HTTP route (docs/design.md "Routes of the HTTP API"), checked by the handler's plumbing
 * (functions/adapters/http.ts `authorizedRoute`, which reads it from here):
 * - `operator`: a request signed with the shared secret (v2): the CLI, the edge, provisioning;
 * - `admin`: a bearer token of an admin (`role: admin`);
 * - `user`: any valid bearer token, for the caller's own data (`/v1/me…`);
 * - `self`: a bearer token whose AOR is the route's `{aor}` (another user's: 403);
 * - `chat`: a chat token (POST /v1/chats) whose chat is the route's `{chatId}` (another chat's: 403);
 * - `public`: anyone, nothing checked.
 * A caller that is none of the listed gets 403 if it proved who it is, else 401.
 */
export type Caller = 'operator' | 'admin' | 'user' | 'self' | 'chat' | 'public';

/** HTTP API route; the handler itself checks the request signature or bearer token (`who`). */
export interface HttpTrigger {
  readonly kind: 'http';
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS';
  readonly path: `/v1/${string}` | '/' | `/console/${string}` | `/chat/${string}` | '/chat.js';
  readonly who: readonly Caller[];
  /**
   * An unauthenticated route for web pages: the API stage caps it at the construct's public-route
   * throttle (props.availability.throttle), whatever the per-client limit in the function allows.
   */
  readonly publicThrottle?: true;
}

/**
 * SQS consumer with partial batch failures (STYLE.md practice 9); one per queue, whose
 * visibility timeout the construct derives from the consumer's timeout.
 */
export interface QueueTrigger {
  readonly kind: 'queue';
  readonly queue: QueueName;
  readonly batchSize?: number;
  /** Caps concurrent pollers, e.g. to spare the SIP edge during a presence storm. */
  readonly maxConcurrency?: number;
}

/** EventBridge schedule at the construct's sweep interval. */
export interface ScheduleTrigger {
  readonly kind: 'schedule';
}

/**
 * The SES receipt rule of the groups' inbound domain (props.inboundMail): it stores the raw mail
 * in the inbound bucket and then invokes the function asynchronously. Without the prop the
 * function is not created.
 */
export interface InboundMailTrigger {
  readonly kind: 'inboundMail';
}

export type Trigger = HttpTrigger | QueueTrigger | ScheduleTrigger | InboundMailTrigger;

export type QueueName = 'delivery' | 'expired';

/**
 * DynamoDB actions a function may be granted on the table. A TransactWriteItems is authorised as
 * its parts: PutItem, UpdateItem, DeleteItem, ConditionCheckItem. (The store uses no PartiQL, so
 * there is no PartiQL action to grant.)
 */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'Scan'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem'
  | 'DescribeTable';

/**
 * What a function may touch. Each kind of access brings its environment variable and its IAM
 * grant together (infra/access.ts), so a function never has one without the other. A queue
 * trigger brings the URL of the queue consumed (for ChangeMessageVisibility) and the consumer's
 * grants; it does not allow sending to that queue.
 */
export interface FunctionAccess {
  /** HOLDOVER_TABLE + these actions on the table only (not its index). */
  readonly table?: readonly TableAction[];
  /**
   * HOLDOVER_TABLE + these actions on the credentials partition only (pk CREDENTIALS, an IAM
   * dynamodb:LeadingKeys condition): the users' HA1 hashes, nothing of their messages.
   */
  readonly credentials?: readonly ('GetItem' | 'Query' | 'UpdateItem' | 'DeleteItem')[];
  /**
   * HOLDOVER_TABLE + these actions on the group items only (pk GROUPS, MEMBER#…, GROUPQ#…, an IAM
   * dynamodb:LeadingKeys condition): groups, memberships and queue memory, nothing of messages.
   */
  readonly groups?: readonly ('GetItem' | 'Query' | 'PutItem' | 'DeleteItem')[];
  /**
   * HOLDOVER_TABLE + these actions on the chat items only (pk CHAT#…, an IAM dynamodb:LeadingKeys
   * condition): chats and their lines, nothing of messages.
   */
  readonly chats?: readonly ('Query' | 'PutItem' | 'UpdateItem' | 'DeleteItem')[];
  /**
   * HOLDOVER_TABLE + these actions on the alert items only (pk ALERT#…, an IAM
   * dynamodb:LeadingKeys condition): alerts from email and their members' outcomes.
   */
  readonly alerts?: readonly ('Query' | 'PutItem' | 'UpdateItem')[];
  /** HOLDOVER_TABLE + these actions on the expiry index (gsi1) only: the sweeper's reads. */
  readonly expiryIndex?: readonly ('Query' | 'Scan')[];
  /**
   * HOLDOVER_TABLE + these actions on the order index (lsi1) only: a recipient's held messages in
   * arrival order, and their count (the quota, MWI).
   */
  readonly orderIndex?: readonly 'Query'[];
  /** HOLDOVER_SECRET_ARN + secretsmanager:GetSecretValue on the signing secret. */
  readonly signingSecret?: boolean;
  /**
   * The replay check of a state-changing signed route: dynamodb:PutItem on the table, limited by
   * `dynamodb:LeadingKeys` to the nonce items (`NONCE#…`), so the grant opens nothing else.
   */
  readonly replayGuard?: boolean;
  /**
   * HOLDOVER_TABLE + these actions on the session items only (`SIGNIN#…`, `REVOKED#…`, an IAM
   * dynamodb:LeadingKeys condition): failed sign-ins and revoked tokens. Every route that takes
   * a token needs GetItem (the revocation check) and the signing secret (the token key).
   */
  readonly sessions?: readonly ('GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem')[];
  /** HOLDOVER_<QUEUE>_QUEUE_URL + sqs:SendMessage on each queue, nothing more. */
  readonly sendTo?: readonly QueueName[];
  /** HOLDOVER_MAIL_FROM + ses:SendEmail/SendRawEmail on the sending identity. */
  readonly sendEmail?: boolean;
  /** HOLDOVER_EDGE_URL: the SIP edge's HTTP port (POST /deliver, signed). */
  readonly edge?: boolean;
  /** HOLDOVER_INBOUND_BUCKET/_PREFIX + s3:GetObject on the raw mails (that prefix of that bucket) only. */
  readonly inboundMail?: boolean;
}

/**
 * Deployment settings a function reads at module scope; values come from the construct's props.
 * A setting whose prop is unset is left out: OUTBOUND_PROXY, whose absence is its meaning, and
 * HOLDOVER_DELIVERY_BATCH, whose default the delivery function owns (it is tuned with it).
 */
export type SettingName =
  | 'HOLDOVER_DOMAINS'
  | 'HOLDOVER_EXPIRE_AFTER'
  | 'HOLDOVER_MAX_BODY_BYTES'
  | 'HOLDOVER_QUOTA'
  | 'HOLDOVER_DELIVERY_BATCH'
  | 'HOLDOVER_SWEEP_INTERVAL'
  | 'HOLDOVER_CORS_ORIGINS'
  | 'HOLDOVER_AVAILABILITY_MAX_AGE'
  | 'HOLDOVER_AVAILABILITY_RATE'
  | 'HOLDOVER_CHAT_IDLE'
  | 'HOLDOVER_CHAT_LIFETIME'
  | 'HOLDOVER_CHAT_RETAIN'
  | 'HOLDOVER_CHAT_START_RATE'
  | 'HOLDOVER_CHAT_LINE_RATE'
  | 'OUTBOUND_PROXY';

export interface FunctionEntry {
  /** Domain name of the function; also its construct id and dashboard label. */
  readonly name: string;
  /** Source file, relative to the project root. */
  readonly entry: `functions/${string}.ts`;
  /** Exported handler name in that file. */
  readonly handler: string;
  readonly trigger: Trigger;
  readonly settings?: readonly SettingName[];
  readonly access: FunctionAccess;
  /**
   * X-Ray: `active` (the default) samples the function's invocations itself (1 a second and 5 %
   * beyond); `passThrough` traces only what arrives with a sampled trace header, and the HTTP
   * API sends none: for the per-message routes, where active tracing would trace nearly every
   * request at office-hour rates and be the largest variable cost (docs/cost.md).
   */
  readonly tracing?: 'active' | 'passThrough';
  /** Defaults in function.ts: 256 MB, 10 s. */
  readonly memoryMb?: number;
  readonly timeoutSeconds?: number;
}

/** What every chat function reads: the visitor AORs' domain and the chat's times. */
const CHAT_SETTINGS: readonly SettingName[] = [
  'HOLDOVER_DOMAINS',
  'HOLDOVER_CORS_ORIGINS',
  'HOLDOVER_CHAT_IDLE',
  'HOLDOVER_CHAT_LIFETIME',
  'HOLDOVER_CHAT_RETAIN',
];
/** What a capture reads (a chat line is captured as any MESSAGE is). */
const CAPTURE_SETTINGS: readonly SettingName[] = [
  'HOLDOVER_EXPIRE_AFTER',
  'HOLDOVER_MAX_BODY_BYTES',
  'HOLDOVER_QUOTA',
];

/** A token is checked against the sign-outs on every use (and its key comes from the secret). */
const TOKEN_CHECK = { signingSecret: true, sessions: ['GetItem'] } as const;

/** An operator or user endpoint (signed or token) that only reads the table. */
const signedRead = (...table: TableAction[]): FunctionAccess => ({ table, ...TOKEN_CHECK });

/**
 * A capture's accesses (a MESSAGE held, or delivered now): BatchGetItem: the recipient's settings
 * and presence and the group at its AOR, in one read before the write; Query: a user's own items
 * (sk < MSG#: a group's members); the order index: the held count with the presence, after the
 * write (the quota, the capture/presence race). PutItem: the message, conditional (one
 * write; with an IMDN Message-ID its marker too, in a TransactWriteItems), and the offline-notice
 * claim. GetItem: the first copy's answer on a duplicate. The message Put fills both indexes by
 * itself. For a group: GetItem of the group and of a queue's memory, UpdateItem/PutItem to record
 * the choice. DeleteItem: the quota is counted after the write, so a message that landed past it
 * (and its IMDN marker) is taken back at once, conditional on being this capture's own pending
 * message. A delivery run for an available recipient, or an offline notice / auto-reply.
 */
const CAPTURE_ACCESS = {
  table: ['BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'GetItem', 'DeleteItem'],
  orderIndex: ['Query'],
  sendTo: ['delivery'],
} as const satisfies FunctionAccess;

/** A signed route of the edge that captures MESSAGEs (functions/capture.ts). */
function edgeCapture(name: string, handler: string, path: `/v1/${string}`): FunctionEntry {
  return {
    name,
    entry: 'functions/capture.ts',
    handler,
    tracing: 'passThrough',
    trigger: { kind: 'http', method: 'POST', path, who: ['operator'] },
    // (a MESSAGE to a chat's visitor AOR joins the chat: the chat's times decide how)
    settings: [...CAPTURE_SETTINGS, ...CHAT_SETTINGS],
    access: { ...CAPTURE_ACCESS, signingSecret: true, replayGuard: true },
  };
}

type HttpPath = Extract<Trigger, { kind: 'http' }>['path'];

/** A public GET of a page or asset built into the function: it touches nothing. */
function staticAsset(
  name: string,
  entry: FunctionEntry['entry'],
  handler: string,
  path: HttpPath,
): FunctionEntry {
  return {
    name,
    entry,
    handler,
    trigger: { kind: 'http', method: 'GET', path, who: ['public'] },
    access: {},
  };
}

/** A public route's CORS preflight (functions/cors.ts): headers only, it touches nothing. */
function preflight(name: string, handler: string, path: HttpPath): FunctionEntry {
  return {
    name,
    entry: 'functions/cors.ts',
    handler,
    trigger: { kind: 'http', method: 'OPTIONS', path, who: ['public'] },
    settings: ['HOLDOVER_CORS_ORIGINS'],
    access: {},
  };
}

export const HOLDOVER_FUNCTIONS: readonly FunctionEntry[] = [
  // --- from the edge ---------------------------------------------------------------------------
  edgeCapture('capture', 'handler', '/v1/messages'),
  // Several MESSAGEs that reached the edge together, in one signed call: the same use case and
  // the same accesses as capture, per message.
  edgeCapture('captureBatch', 'batchHandler', '/v1/messages/batch'),
  {
    name: 'presence',
    entry: 'functions/presence.ts',
    handler: 'handler',
    tracing: 'passThrough',
    trigger: { kind: 'http', method: 'POST', path: '/v1/presence', who: ['operator'] },
    // Query: the user's own items, the member's groups (and a queue's held count: order index);
    // PutItem: the presence item, conditional on its version.
    access: {
      table: ['Query', 'PutItem'],
      orderIndex: ['Query'],
      signingSecret: true,
      replayGuard: true,
      sendTo: ['delivery'],
    },
  },
  // --- operator and user endpoints -------------------------------------------------------------
  {
    name: 'held',
    entry: 'functions/users.ts',
    handler: 'heldHandler',
    trigger: {
      kind: 'http',
      method: 'GET',
      path: '/v1/users/{aor}/messages',
      who: ['operator', 'admin', 'self'],
    },
    // The order index (with the messages fetched from the table), and the lease (in flight).
    access: { table: ['GetItem'], orderIndex: ['Query'], ...TOKEN_CHECK },
  },
  {
    name: 'summary',
    entry: 'functions/users.ts',
    handler: 'summaryHandler',
    trigger: {
      kind: 'http',
      method: 'GET',
      path: '/v1/users/{aor}/summary',
      who: ['operator', 'admin', 'self'],
    },
    access: { table: ['Query'], orderIndex: ['Query'], ...TOKEN_CHECK },
  },
  {
    name: 'getSettings',
    entry: 'functions/settings.ts',
    handler: 'getHandler',
    trigger: {
      kind: 'http',
      method: 'GET',
      path: '/v1/users/{aor}/settings',
      who: ['operator', 'admin', 'self'],
    },
    access: signedRead('GetItem'),
  },
  {
    name: 'putSettings',
    entry: 'functions/settings.ts',
    handler: 'putHandler',
    trigger: {
      kind: 'http',
      method: 'PUT',
      path: '/v1/users/{aor}/settings',
      who: ['operator', 'admin', 'self'],
    },
    // The whole settings item, replaced (it also enters or leaves the vacation list in gsi1).
    access: { table: ['PutItem'], replayGuard: true, ...TOKEN_CHECK },
  },
  // --- people's SIP credentials (HA1 hashes only) ------------------------------------------------
  {
    name: 'putCredentials',
    entry: 'functions/credentials.ts',
    handler: 'putHandler',
    trigger: { kind: 'http', method: 'PUT', path: '/v1/users/{aor}/credentials', who: ['operator', 'admin'] },
    // Only AORs of served domains get credentials.
    settings: ['HOLDOVER_DOMAINS'],
    // One UpdateItem sets the hashes and keeps createdAt (if_not_exists).
    access: { credentials: ['UpdateItem'], replayGuard: true, ...TOKEN_CHECK },
  },
  {
    name: 'deleteCredentials',
    entry: 'functions/credentials.ts',
    handler: 'deleteHandler',
    trigger: {
      kind: 'http',
      method: 'DELETE',
      path: '/v1/users/{aor}/credentials',
      who: ['operator', 'admin'],
    },
    access: { credentials: ['DeleteItem'], replayGuard: true, ...TOKEN_CHECK },
  },
  {
    name: 'listUsers',
    entry: 'functions/credentials.ts',
    handler: 'listHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/users', who: ['operator', 'admin'] },
    // Query of the credentials partition, projected without the hashes.
    access: { credentials: ['Query'], ...TOKEN_CHECK },
  },
  {
    name: 'getCredentials',
    entry: 'functions/credentials.ts',
    handler: 'getHandler',
    // The edge's read of one user's HA1s to check a digest answer (cached there briefly).
    trigger: { kind: 'http', method: 'GET', path: '/v1/credentials/{aor}', who: ['operator'] },
    access: { credentials: ['GetItem'], signingSecret: true },
  },
  {
    name: 'stats',
    entry: 'functions/stats.ts',
    handler: 'handler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/stats', who: ['operator', 'admin'] },
    access: signedRead('Scan'),
  },
  {
    name: 'dead',
    entry: 'functions/dead.ts',
    handler: 'listHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/dead', who: ['operator', 'admin'] },
    // The dead letters' list lives in gsi1 (DEAD); BatchGetItem reads the letters themselves.
    access: { table: ['BatchGetItem'], expiryIndex: ['Query'], ...TOKEN_CHECK },
  },
  {
    name: 'listAlerts',
    entry: 'functions/alerts.ts',
    handler: 'listHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/alerts', who: ['operator', 'admin'] },
    // The alerts' list lives in gsi1 (ALERTS, ALERTS#<group>); a Query of each alert's items.
    access: { alerts: ['Query'], expiryIndex: ['Query'], ...TOKEN_CHECK },
  },
  {
    name: 'deadPurgeOne',
    entry: 'functions/dead.ts',
    handler: 'purgeOneHandler',
    trigger: { kind: 'http', method: 'DELETE', path: '/v1/dead/{id}', who: ['operator', 'admin'] },
    // The letter's key from gsi1, then a Delete conditional on `dead`.
    access: { table: ['DeleteItem'], expiryIndex: ['Query'], replayGuard: true, ...TOKEN_CHECK },
  },
  {
    name: 'deadPurgeAll',
    entry: 'functions/dead.ts',
    handler: 'purgeAllHandler',
    trigger: { kind: 'http', method: 'DELETE', path: '/v1/dead', who: ['operator', 'admin'] },
    access: { table: ['DeleteItem'], expiryIndex: ['Query'], replayGuard: true, ...TOKEN_CHECK },
  },
  // --- groups (operator) -------------------------------------------------------------------------
  {
    name: 'putGroup',
    entry: 'functions/groups.ts',
    handler: 'putHandler',
    trigger: { kind: 'http', method: 'PUT', path: '/v1/groups/{aor}', who: ['operator', 'admin'] },
    // Members must be AORs of served domains.
    settings: ['HOLDOVER_DOMAINS'],
    // GetItem: the group before (members removed) and the members (no nesting); Query: the
    // groups the new group is in. TransactWriteItems: the group Put, membership Puts and Deletes.
    access: {
      groups: ['GetItem', 'Query', 'PutItem', 'DeleteItem'],
      signingSecret: true,
      sessions: ['GetItem'],
      replayGuard: true,
    },
  },
  {
    name: 'getGroup',
    entry: 'functions/groups.ts',
    handler: 'getHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/groups/{aor}', who: ['operator', 'admin'] },
    access: { groups: ['GetItem'], signingSecret: true, sessions: ['GetItem'] },
  },
  {
    name: 'listGroups',
    entry: 'functions/groups.ts',
    handler: 'listHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/groups', who: ['operator', 'admin'] },
    access: { groups: ['Query'], signingSecret: true, sessions: ['GetItem'] },
  },
  {
    name: 'deleteGroup',
    entry: 'functions/groups.ts',
    handler: 'deleteHandler',
    trigger: { kind: 'http', method: 'DELETE', path: '/v1/groups/{aor}', who: ['operator', 'admin'] },
    // GetItem: its members; TransactWriteItems of Deletes (group, memberships, queue memory).
    access: {
      groups: ['GetItem', 'DeleteItem'],
      signingSecret: true,
      sessions: ['GetItem'],
      replayGuard: true,
    },
  },
  // --- public (web pages) --------------------------------------------------------------------------
  {
    name: 'availability',
    entry: 'functions/availability.ts',
    handler: 'handler',
    trigger: {
      kind: 'http',
      method: 'GET',
      path: '/v1/availability/{aor}',
      who: ['public'],
      publicThrottle: true,
    },
    settings: ['HOLDOVER_CORS_ORIGINS', 'HOLDOVER_AVAILABILITY_MAX_AGE', 'HOLDOVER_AVAILABILITY_RATE'],
    // Unauthenticated, so reads only: GetItem of the group (group items only), Query of the
    // user's own items (and of each member's, for a public group). No secret, no writes, no queues.
    access: { groups: ['GetItem'], table: ['Query'] },
  },
  preflight('availabilityPreflight', 'preflightHandler', '/v1/availability/{aor}'),
  // --- click-to-chat (web visitors; functions/core/chat.ts) ---------------------------------------
  {
    name: 'startChat',
    entry: 'functions/chats.ts',
    handler: 'startHandler',
    trigger: { kind: 'http', method: 'POST', path: '/v1/chats', who: ['public'], publicThrottle: true },
    settings: [...CHAT_SETTINGS, 'HOLDOVER_CHAT_START_RATE'],
    // Reads as availability does (is the target public?): GetItem of the group, Query of the user
    // items. PutItem: the chat item (chats: CHAT#… only). The secret: the chat token's key.
    access: { groups: ['GetItem'], table: ['Query'], chats: ['PutItem'], signingSecret: true },
  },
  {
    name: 'chatPostLine',
    entry: 'functions/chat-lines.ts',
    handler: 'postLineHandler',
    trigger: {
      kind: 'http',
      method: 'POST',
      path: '/v1/chats/{chatId}/messages',
      who: ['chat'],
      publicThrottle: true,
    },
    settings: [...CHAT_SETTINGS, ...CAPTURE_SETTINGS, 'HOLDOVER_CHAT_LINE_RATE'],
    // The chat and its lines (Query), the line (PutItem, DeleteItem if the capture is refused),
    // the visitor's last sighting (UpdateItem); then a capture of the line as capture does it
    // (CAPTURE_ACCESS, with DeleteItem on the table: the takeback of a message past the quota).
    access: {
      chats: ['Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
      ...CAPTURE_ACCESS,
      signingSecret: true,
    },
  },
  {
    name: 'chatRead',
    entry: 'functions/chats.ts',
    handler: 'readHandler',
    trigger: {
      kind: 'http',
      method: 'GET',
      path: '/v1/chats/{chatId}/messages',
      who: ['chat'],
      publicThrottle: true,
    },
    settings: CHAT_SETTINGS,
    // The long poll: a Query of the chat's partition each second, up to 20 s.
    timeoutSeconds: 25,
    memoryMb: 128,
    access: { chats: ['Query', 'UpdateItem'], signingSecret: true },
  },
  // A static page; the script on it reads the address from the path and calls the routes above.
  staticAsset('chatPage', 'functions/chat-page.ts', 'pageHandler', '/chat/{aor}'),
  staticAsset('chatScript', 'functions/chat-page.ts', 'scriptHandler', '/chat.js'),
  preflight('chatsPreflight', 'chatPreflightHandler', '/v1/chats'),
  preflight('chatMessagesPreflight', 'chatPreflightHandler', '/v1/chats/{chatId}/messages'),
  {
    name: 'health',
    entry: 'functions/health.ts',
    handler: 'handler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/health', who: ['public'] },
    // Unsigned liveness: it may only ask whether the table is there.
    access: { table: ['DescribeTable'] },
  },
  // --- people: sessions, their own data, the console -------------------------------------------
  {
    name: 'signIn',
    entry: 'functions/session.ts',
    handler: 'signInHandler',
    trigger: { kind: 'http', method: 'POST', path: '/v1/session', who: ['public'] },
    // GetItem: the user's HA1 and admin flag. Sessions: the attempt counter (Get; a conditional
    // Put per attempt; Delete on success). The secret: the token key.
    access: {
      credentials: ['GetItem'],
      sessions: ['GetItem', 'PutItem', 'DeleteItem'],
      signingSecret: true,
    },
  },
  {
    name: 'signOut',
    entry: 'functions/session.ts',
    handler: 'signOutHandler',
    trigger: { kind: 'http', method: 'DELETE', path: '/v1/session', who: ['user'] },
    // PutItem: the revocation of the token's jti until it expires.
    access: { sessions: ['GetItem', 'PutItem'], signingSecret: true },
  },
  {
    name: 'mintToken',
    entry: 'functions/session.ts',
    handler: 'mintHandler',
    // `npx holdover token <aor>`: a user token for scripts, minted by an operator.
    trigger: { kind: 'http', method: 'POST', path: '/v1/users/{aor}/token', who: ['operator'] },
    // GetItem: the admin flag (the role), if the user has credentials.
    access: { credentials: ['GetItem'], signingSecret: true, replayGuard: true },
  },
  {
    name: 'me',
    entry: 'functions/me.ts',
    handler: 'meHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/me', who: ['user'] },
    // Query: the user's own items (settings, presence), the order index: the held count.
    access: { table: ['Query'], orderIndex: ['Query'], ...TOKEN_CHECK },
  },
  {
    name: 'myMessages',
    entry: 'functions/me.ts',
    handler: 'messagesHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/me/messages', who: ['user'] },
    // The order index (with the messages fetched from the table), and the lease (in flight).
    access: { table: ['GetItem'], orderIndex: ['Query'], ...TOKEN_CHECK },
  },
  {
    name: 'getMySettings',
    entry: 'functions/me.ts',
    handler: 'getSettingsHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/me/settings', who: ['user'] },
    access: signedRead('GetItem'),
  },
  {
    name: 'putMySettings',
    entry: 'functions/me.ts',
    handler: 'putSettingsHandler',
    trigger: { kind: 'http', method: 'PUT', path: '/v1/me/settings', who: ['user'] },
    access: { table: ['PutItem'], ...TOKEN_CHECK },
  },
  // The web console's page; everything it shows comes from the routes above, with a token.
  staticAsset('console', 'functions/console.ts', 'pageHandler', '/'),
  staticAsset('consoleAsset', 'functions/console.ts', 'assetHandler', '/console/{asset}'),
  // --- delivery ----------------------------------------------------------------------------------
  {
    name: 'delivery',
    entry: 'functions/deliver.ts',
    handler: 'handler',
    // Each record of a batch is a recipient's run, processed concurrently; the cap keeps a
    // morning presence storm to 10 × 10 runs at once against the edge.
    trigger: { kind: 'queue', queue: 'delivery', batchSize: 10, maxConcurrency: 10 },
    settings: ['HOLDOVER_DELIVERY_BATCH', 'OUTBOUND_PROXY'],
    // One /deliver call sends a batch (HOLDOVER_DELIVERY_BATCH, up to 100) one MESSAGE after
    // another; the edge stops at the first timeout (DELIVERY_TIMEOUT, 32 s), so a batch is quick
    // answers and at most one timeout. Five minutes cover that with room, also for a run of
    // several batches; the queue's visibility timeout follows (6×).
    timeoutSeconds: 300,
    access: {
      // Query: the user's items; the order index: the deliverable messages and their count.
      // GetItem/UpdateItem/DeleteItem: the lease and its in-flight range. BatchWriteItem (of
      // PutItem): delivered messages' tombstones (on DynamoDB Local a transaction, with a
      // ConditionCheck of the lease). UpdateItem: →bounced→dead; PutItem: a bounce told (its
      // tombstone), conditional. GetItem: a group's entry and queue memory (a queue's backlog
      // goes to one member). Chats: a delivered visitor line becomes `delivered`.
      chats: ['UpdateItem'],
      table: [
        'Query',
        'GetItem',
        'PutItem',
        'DeleteItem',
        'UpdateItem',
        'BatchWriteItem',
        'ConditionCheckItem',
      ],
      orderIndex: ['Query'],
      signingSecret: true,
      edge: true,
      // Notices (bounce, IMDN) go back on the delivery queue, durably.
      sendTo: ['delivery'],
    },
  },
  // --- expiry -------------------------------------------------------------------------------------
  {
    name: 'sweeper',
    entry: 'functions/sweep.ts',
    handler: 'handler',
    trigger: { kind: 'schedule' },
    // It also claims what falls due before the next sweep, so it must know the period.
    settings: ['HOLDOVER_SWEEP_INTERVAL'],
    // A sweep after an outage may claim many messages; a slow sweep overlapping the next is safe
    // (claims are conditional) and better than one cut short with its jobs not yet queued.
    timeoutSeconds: 120,
    access: {
      // Index: due entries per shard, the vacation list, each shard's earliest expiry.
      expiryIndex: ['Query'],
      // Order index: a vacationer's waiting messages, the claimed messages' keys. Table: the
      // claims, TransactWriteItems of conditional Updates (pending → expiring) with a
      // ConditionCheck of the lease (not in a delivery run's range).
      table: ['UpdateItem', 'ConditionCheckItem'],
      orderIndex: ['Query'],
      sendTo: ['expired'],
    },
  },
  {
    name: 'email',
    entry: 'functions/email.ts',
    handler: 'handler',
    // Two pollers of five: at most ten digests in flight. Past the account's SES sending rate
    // (14/s when production access is new) a send is throttled and the job retried with backoff.
    trigger: { kind: 'queue', queue: 'expired', batchSize: 5, maxConcurrency: 2 },
    // A job is up to 200 messages: BatchGet in hundreds, one SES call (10 s at most), deletes in
    // transactions of 99.
    timeoutSeconds: 30,
    access: {
      // Order index: the claimed messages (fetched whole) and the user's held count; Query: the
      // recipient's settings (email address, policy); PutItem of tombstones conditional on
      // `expiring`, UpdateItem expiring → bounced.
      table: ['Query', 'PutItem', 'UpdateItem'],
      orderIndex: ['Query'],
      // Answers held for a chat's visitor: the address the visitor gave (the chat item).
      chats: ['Query'],
      sendEmail: true,
      // Bounce notices to senders (policy `bounce`, or no address to email).
      sendTo: ['delivery'],
    },
  },
  // --- alerts from email ---------------------------------------------------------------------------
  {
    name: 'inboundEmail',
    entry: 'functions/inbound-email.ts',
    handler: 'handler',
    trigger: { kind: 'inboundMail' },
    settings: ['HOLDOVER_DOMAINS', 'HOLDOVER_EXPIRE_AFTER', 'HOLDOVER_MAX_BODY_BYTES', 'HOLDOVER_QUOTA'],
    // Reading and parsing a mail of up to 10 MB (SES's limit for S3 actions is 40 MB: the rest is
    // refused), then one capture per member.
    memoryMb: 512,
    timeoutSeconds: 60,
    access: {
      // The raw mail, from the bucket SES wrote it to.
      inboundMail: true,
      // The groups: which one has the inbound address (Query of GROUPS), a member's group (GetItem).
      groups: ['GetItem', 'Query'],
      // The alert and its members' outcomes: a TransactWriteItems of Puts, conditional; Updates; a Query.
      alerts: ['Query', 'PutItem', 'UpdateItem'],
      // Capture, per member, as functions/capture.ts (members are users: no queue memory to
      // update): the user's items (BatchGetItem, Query), the message Put, the order index for the quota, the first
      // copy's answer on a duplicate, the takeback of a message written past the quota
      // (DeleteItem); a delivery run for a member available now.
      table: ['BatchGetItem', 'Query', 'PutItem', 'GetItem', 'DeleteItem'],
      orderIndex: ['Query'],
      sendTo: ['delivery'],
    },
  },
];

// Every Lambda function of Holdover, one declarative entry each: which file, which export, what
// triggers it, which settings it reads and which resources it may touch. The construct turns an
// entry into a function, its log group, its trigger, its environment and its IAM grants; nothing
// else in infra/ names a function. No aws-cdk-lib import, so tests and benchmarks can read it.

/** HTTP API route; the handler itself checks the request signature or bearer token. */
export interface HttpTrigger {
  readonly kind: 'http';
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: `/v1/${string}`;
}

/** SQS consumer with partial batch failures (STYLE.md practice 9). */
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

export type Trigger = HttpTrigger | QueueTrigger | ScheduleTrigger;

export type QueueName = 'delivery' | 'expired';

/** DynamoDB actions a function may be granted on the table. */
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
 * grant together (infra/access.ts), so a function never has one without the other.
 */
export interface FunctionAccess {
  /** HOLDOVER_TABLE + these actions on the table only. TransactWriteItems needs those of its parts. */
  readonly table?: readonly TableAction[];
  /** HOLDOVER_TABLE + these actions on the expiry index (gsi1) only: the sweeper's reads. */
  readonly expiryIndex?: readonly ('Query' | 'Scan')[];
  /** HOLDOVER_SECRET_ARN + secretsmanager:GetSecretValue on the signing secret. */
  readonly signingSecret?: boolean;
  /** HOLDOVER_<QUEUE>_QUEUE_URL + sqs:SendMessage on each queue. */
  readonly sendTo?: readonly QueueName[];
  /** HOLDOVER_MAIL_FROM + ses:SendEmail/SendRawEmail on the sending identity. */
  readonly sendEmail?: boolean;
  /** HOLDOVER_EDGE_URL: the SIP edge's HTTP port (POST /deliver, signed). */
  readonly edge?: boolean;
}

/** Deployment settings a function reads at module scope; values come from the construct's props. */
export type SettingName =
  | 'HOLDOVER_DOMAINS'
  | 'HOLDOVER_EXPIRE_AFTER'
  | 'HOLDOVER_MAX_BODY_BYTES'
  | 'HOLDOVER_QUOTA';

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
  /** Defaults in function.ts: 256 MB, 10 s. */
  readonly memoryMb?: number;
  readonly timeoutSeconds?: number;
}

const signedOperatorRead = { signingSecret: true } as const;

export const HOLDOVER_FUNCTIONS: readonly FunctionEntry[] = [
  {
    name: 'capture',
    entry: 'functions/capture.ts',
    handler: 'handler',
    trigger: { kind: 'http', method: 'POST', path: '/v1/messages' },
    settings: ['HOLDOVER_DOMAINS', 'HOLDOVER_EXPIRE_AFTER', 'HOLDOVER_MAX_BODY_BYTES', 'HOLDOVER_QUOTA'],
    // One TransactWriteItems (counter Update, dedupe Put, message Put), the dedupe marker's Get
    // on a duplicate, the recipient's settings Get.
    access: { table: ['GetItem', 'PutItem', 'UpdateItem'], signingSecret: true },
  },
  {
    name: 'held',
    entry: 'functions/users.ts',
    handler: 'heldHandler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/users/{aor}/messages' },
    access: { table: ['Query'], ...signedOperatorRead },
  },
  {
    name: 'stats',
    entry: 'functions/stats.ts',
    handler: 'handler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/stats' },
    access: { table: ['Scan'], ...signedOperatorRead },
  },
  {
    name: 'health',
    entry: 'functions/health.ts',
    handler: 'handler',
    trigger: { kind: 'http', method: 'GET', path: '/v1/health' },
    // Unsigned liveness: it may only ask whether the table is there.
    access: { table: ['DescribeTable'] },
  },
  // The rest of the data flow (DESIGN.md) lands as one entry each, when its file exists:
  //   presence  http POST /v1/presence                     table Get/Put/Update, sendTo ['delivery'], signingSecret
  //   settings  http GET and PUT /v1/users/{aor}/settings  table Get/Put, signingSecret (two entries, one file)
  //   delivery  queue 'delivery' (maxConcurrency)          table Query/Update/Delete, edge, signingSecret
  //   sweeper   schedule                                   expiryIndex ['Query'], table Update, sendTo ['expired']
  //   email     queue 'expired'                            table Get/Query/Delete, sendEmail
];

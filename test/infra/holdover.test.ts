// The invariants of the Holdover construct (STYLE.md practice 10), on the stack synthesized once
// with real bundling and the real catalogue: storage, queues, functions and their triggers, least
// privilege (each function's exact actions, resources and variables), monitoring, the SIP edge.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { ESM_REQUIRE_BANNER, esbuildBuildOptions } from '../../infra/bundling.ts';
import { HOLDOVER_FUNCTIONS } from '../../infra/catalogue.ts';
import { EDGE_METRICS } from '../../shared/metric-names.ts';
import { EXPIRY_INDEX, ORDER_INDEX, TTL_ATTRIBUTE, tableDefinition } from '../../shared/table.ts';
import {
  actionsOf,
  edgeEnvironment,
  functionNamed,
  type Resource,
  resourcesOf,
  type Statement,
  statementsOfFunction,
  synthHoldover,
  TEST_PROXY_CIDR,
  variablesOf,
} from './support/synth.ts';

let template: Template;
let outdir: string;

beforeAll(() => {
  ({ template, outdir } = synthHoldover());
  return () => fs.rmSync(outdir, { recursive: true, force: true });
});

const SECRET_READ = ['secretsmanager:GetSecretValue'];
const TRACING = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
const SEND = ['sqs:SendMessage'];
/** What the SQS event source grants a consumer on the queue it polls. */
const CONSUMER = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];
const table = (...actions: string[]) => actions.map((action) => `dynamodb:${action}`);
/** The revocation check of every route that takes a token (on session items only). */
const TOKEN = [...table('GetItem'), ...SECRET_READ];

/**
 * Every action each function may take, written out here on purpose: widening a grant in the
 * catalogue must be a visible change to this list too.
 */
const ALLOWED: Record<string, string[]> = {
  // DeleteItem: the takeback of a message written past the quota (counted after the write);
  // BatchGetItem: the recipient's group and user in one read
  capture: [
    ...table('BatchGetItem', 'DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'),
    ...SECRET_READ,
    ...SEND,
  ],
  captureBatch: [
    ...table('BatchGetItem', 'DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'),
    ...SECRET_READ,
    ...SEND,
  ],
  presence: [...table('PutItem', 'Query'), ...SECRET_READ, ...SEND],
  held: [...table('GetItem', 'Query'), ...TOKEN],
  summary: [...table('Query'), ...TOKEN],
  getSettings: [...table('GetItem'), ...TOKEN],
  putSettings: [...table('PutItem'), ...TOKEN],
  stats: [...table('Scan'), ...TOKEN],
  // PutItem: the nonce of the signed call (replay guard, NONCE# items only)
  putCredentials: [...table('PutItem', 'UpdateItem'), ...TOKEN],
  deleteCredentials: [...table('DeleteItem', 'PutItem'), ...TOKEN],
  listUsers: [...table('Query'), ...TOKEN],
  getCredentials: [...table('GetItem'), ...SECRET_READ],
  signIn: [...table('DeleteItem', 'GetItem', 'PutItem'), ...SECRET_READ],
  signOut: [...table('GetItem', 'PutItem'), ...SECRET_READ],
  mintToken: [...table('GetItem', 'PutItem'), ...SECRET_READ],
  me: [...table('Query'), ...TOKEN],
  myMessages: [...table('GetItem', 'Query'), ...TOKEN],
  getMySettings: [...table('GetItem'), ...TOKEN],
  putMySettings: [...table('PutItem'), ...TOKEN],
  console: [],
  consoleAsset: [],
  dead: [...table('BatchGetItem', 'Query'), ...TOKEN],
  // Query of the ALERTS index partition and of each alert's items (ALERT# only)
  listAlerts: [...table('Query'), ...TOKEN],
  deadPurgeOne: [...table('DeleteItem', 'PutItem', 'Query'), ...TOKEN],
  deadPurgeAll: [...table('DeleteItem', 'PutItem', 'Query'), ...TOKEN],
  health: table('DescribeTable'),
  putGroup: [...table('DeleteItem', 'GetItem', 'PutItem', 'Query'), ...SECRET_READ],
  getGroup: [...table('GetItem'), ...SECRET_READ],
  listGroups: [...table('GetItem', 'Query'), ...SECRET_READ],
  deleteGroup: [...table('DeleteItem', 'GetItem', 'PutItem'), ...SECRET_READ],
  // public: reads only, no secret
  availability: table('GetItem', 'Query'),
  availabilityPreflight: [],
  // click-to-chat: starting reads as availability does and writes the chat (CHAT# items only)
  startChat: [...table('GetItem', 'PutItem', 'Query'), ...SECRET_READ],
  // a visitor's line is captured as capture does it, plus its chat's items
  chatPostLine: [
    ...table('BatchGetItem', 'DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'),
    ...SECRET_READ,
    ...SEND,
  ],
  chatRead: [...table('Query', 'UpdateItem'), ...SECRET_READ],
  chatPage: [],
  chatScript: [],
  chatsPreflight: [],
  chatMessagesPreflight: [],
  delivery: [
    ...table(
      'BatchWriteItem',
      'ConditionCheckItem',
      'DeleteItem',
      'GetItem',
      'PutItem',
      'Query',
      'UpdateItem',
    ),
    ...SECRET_READ,
    ...CONSUMER,
    ...SEND,
  ],
  sweeper: [...table('ConditionCheckItem', 'Query', 'UpdateItem'), ...SEND],
  // capture per member, the groups, the alert items; the raw mail from S3; no secret
  inboundEmail: [
    ...table('BatchGetItem', 'DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'),
    's3:GetObject',
    ...SEND,
  ],
  email: [
    ...table('PutItem', 'Query', 'UpdateItem'),
    'ses:SendEmail',
    'ses:SendRawEmail',
    ...CONSUMER,
    ...SEND,
  ],
};

/** Every HOLDOVER_* (and OUTBOUND_PROXY) variable each function gets with the default props. */
const VARIABLES: Record<string, string[]> = {
  capture: [
    'HOLDOVER_CHAT_IDLE',
    'HOLDOVER_CHAT_LIFETIME',
    'HOLDOVER_CHAT_RETAIN',
    'HOLDOVER_CORS_ORIGINS',
    'HOLDOVER_DELIVERY_QUEUE_URL',
    'HOLDOVER_DOMAINS',
    'HOLDOVER_EXPIRE_AFTER',
    'HOLDOVER_MAX_BODY_BYTES',
    'HOLDOVER_QUOTA',
    'HOLDOVER_SECRET_ARN',
    'HOLDOVER_TABLE',
  ],
  captureBatch: [
    'HOLDOVER_CHAT_IDLE',
    'HOLDOVER_CHAT_LIFETIME',
    'HOLDOVER_CHAT_RETAIN',
    'HOLDOVER_CORS_ORIGINS',
    'HOLDOVER_DELIVERY_QUEUE_URL',
    'HOLDOVER_DOMAINS',
    'HOLDOVER_EXPIRE_AFTER',
    'HOLDOVER_MAX_BODY_BYTES',
    'HOLDOVER_QUOTA',
    'HOLDOVER_SECRET_ARN',
    'HOLDOVER_TABLE',
  ],
  presence: ['HOLDOVER_DELIVERY_QUEUE_URL', 'HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  held: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  summary: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  getSettings: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  putSettings: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  stats: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  putCredentials: ['HOLDOVER_DOMAINS', 'HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  deleteCredentials: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  listUsers: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  getCredentials: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  signIn: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  signOut: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  mintToken: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  me: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  myMessages: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  getMySettings: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  putMySettings: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  console: [],
  consoleAsset: [],
  dead: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  listAlerts: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  deadPurgeOne: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  deadPurgeAll: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  health: ['HOLDOVER_TABLE'],
  putGroup: ['HOLDOVER_DOMAINS', 'HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  getGroup: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  listGroups: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  deleteGroup: ['HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  availability: [
    'HOLDOVER_AVAILABILITY_MAX_AGE',
    'HOLDOVER_AVAILABILITY_RATE',
    'HOLDOVER_CORS_ORIGINS',
    'HOLDOVER_TABLE',
  ],
  availabilityPreflight: ['HOLDOVER_CORS_ORIGINS'],
  startChat: [
    'HOLDOVER_CHAT_IDLE',
    'HOLDOVER_CHAT_LIFETIME',
    'HOLDOVER_CHAT_RETAIN',
    'HOLDOVER_CHAT_START_RATE',
    'HOLDOVER_CORS_ORIGINS',
    'HOLDOVER_DOMAINS',
    'HOLDOVER_SECRET_ARN',
    'HOLDOVER_TABLE',
  ],
  chatPostLine: [
    'HOLDOVER_CHAT_IDLE',
    'HOLDOVER_CHAT_LIFETIME',
    'HOLDOVER_CHAT_LINE_RATE',
    'HOLDOVER_CHAT_RETAIN',
    'HOLDOVER_CORS_ORIGINS',
    'HOLDOVER_DELIVERY_QUEUE_URL',
    'HOLDOVER_DOMAINS',
    'HOLDOVER_EXPIRE_AFTER',
    'HOLDOVER_MAX_BODY_BYTES',
    'HOLDOVER_QUOTA',
    'HOLDOVER_SECRET_ARN',
    'HOLDOVER_TABLE',
  ],
  chatRead: [
    'HOLDOVER_CHAT_IDLE',
    'HOLDOVER_CHAT_LIFETIME',
    'HOLDOVER_CHAT_RETAIN',
    'HOLDOVER_CORS_ORIGINS',
    'HOLDOVER_DOMAINS',
    'HOLDOVER_SECRET_ARN',
    'HOLDOVER_TABLE',
  ],
  chatPage: [],
  chatScript: [],
  chatsPreflight: ['HOLDOVER_CORS_ORIGINS'],
  chatMessagesPreflight: ['HOLDOVER_CORS_ORIGINS'],
  delivery: ['HOLDOVER_DELIVERY_QUEUE_URL', 'HOLDOVER_EDGE_URL', 'HOLDOVER_SECRET_ARN', 'HOLDOVER_TABLE'],
  sweeper: ['HOLDOVER_EXPIRED_QUEUE_URL', 'HOLDOVER_SWEEP_INTERVAL', 'HOLDOVER_TABLE'],
  inboundEmail: [
    'HOLDOVER_DELIVERY_QUEUE_URL',
    'HOLDOVER_DOMAINS',
    'HOLDOVER_EXPIRE_AFTER',
    'HOLDOVER_INBOUND_BUCKET',
    'HOLDOVER_INBOUND_PREFIX',
    'HOLDOVER_MAX_BODY_BYTES',
    'HOLDOVER_QUOTA',
    'HOLDOVER_TABLE',
  ],
  email: [
    'HOLDOVER_DELIVERY_QUEUE_URL',
    'HOLDOVER_EXPIRED_QUEUE_URL',
    'HOLDOVER_MAIL_FROM',
    'HOLDOVER_TABLE',
  ],
};
/** Functions whose group grants are confined to the group items. */
const GROUP_FUNCTIONS = ['putGroup', 'getGroup', 'listGroups', 'deleteGroup', 'availability'];
/** Actions AWS authorizes only on `*`. */
const ONLY_ON_STAR = new Set([...TRACING, 'ecr:GetAuthorizationToken']);

describe('table', () => {
  it('is on-demand, with TTL and point-in-time recovery on, and kept on stack deletion', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('mirrors the key schema, expiry index and order index declared in shared/table.ts', () => {
    const declared = tableDefinition('any');
    const [table] = Object.values(resourcesOf(template, 'AWS::DynamoDB::Table'));
    const properties = table?.Properties ?? {};
    expect(properties.KeySchema).toEqual(declared.KeySchema);
    expect(new Set(properties.AttributeDefinitions as unknown[])).toEqual(
      new Set(declared.AttributeDefinitions),
    );
    expect(properties.GlobalSecondaryIndexes).toEqual([
      expect.objectContaining({
        IndexName: EXPIRY_INDEX,
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state', 'claimedAt', 'lsi1sk'] },
      }),
    ]);
    expect(properties.LocalSecondaryIndexes).toEqual([
      {
        IndexName: ORDER_INDEX,
        KeySchema: declared.LocalSecondaryIndexes?.[0]?.KeySchema,
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state'] },
      },
    ]);
    expect(properties.GlobalSecondaryIndexes).toEqual(
      declared.GlobalSecondaryIndexes?.map((index) =>
        expect.objectContaining({ KeySchema: index.KeySchema }),
      ),
    );
  });
});

describe('queues', () => {
  it('gives every work queue a DLQ, and every DLQ an alarm to the alarm topic', () => {
    const queues = resourcesOf(template, 'AWS::SQS::Queue');
    const work = Object.entries(queues).filter(([, queue]) => queue.Properties.RedrivePolicy);
    const deadLetter = Object.keys(queues).filter((id) => !queues[id]?.Properties.RedrivePolicy);
    expect(work.map(([, queue]) => queue.Properties.QueueName).sort()).toEqual([
      'holdover-delivery',
      'holdover-expired',
    ]);
    expect(deadLetter).toHaveLength(work.length);
    for (const [, queue] of work) {
      const redrive = queue.Properties.RedrivePolicy as { deadLetterTargetArn: { 'Fn::GetAtt': [string] } };
      expect(deadLetter).toContain(redrive.deadLetterTargetArn['Fn::GetAtt'][0]);
    }
    const topic = onlyKey(resourcesOf(template, 'AWS::SNS::Topic'));
    for (const dlq of deadLetter) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
        Threshold: 1,
        AlarmActions: [{ Ref: topic }],
      });
    }
  });
});

describe('functions', () => {
  it('are nodejs22.x on ARM64, one per catalogue entry, each logging to its own log group with retention', () => {
    // The construct's functions; the stack may hold the CDK's own custom-resource provider
    // (restrictDefaultSecurityGroup, a recommended feature flag), which is no Holdover function.
    const functions = Object.fromEntries(
      Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([id]) =>
        id.startsWith('Holdover'),
      ),
    );
    expect(Object.keys(functions)).toHaveLength(HOLDOVER_FUNCTIONS.length);
    const logGroups = resourcesOf(template, 'AWS::Logs::LogGroup');
    const used = new Set<string>();
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      const logGroup = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(logGroups[logGroup]?.Properties.RetentionInDays).toBeGreaterThan(0);
      used.add(logGroup);
    }
    expect(used.size).toBe(HOLDOVER_FUNCTIONS.length);
  });

  it('run the catalogue handlers from ESM bundles with the createRequire banner and the AWS SDK bundled in', () => {
    for (const entry of HOLDOVER_FUNCTIONS) {
      const [, fn] = functionNamed(template, entry.name);
      expect(fn.Properties.Handler).toBe(`index.${entry.handler}`);
      const bundle = fs.readFileSync(path.join(outdir, assetDirectory(fn), 'index.mjs'), 'utf8');
      expect(bundle.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
      // nothing imported from the runtime's SDK: it is in the bundle (the cold start, bench/cold.ts);
      // the CORS preflight touches nothing: its bundle carries no DynamoDB client at all.
      expect(bundle).not.toMatch(/from\s*"@aws-sdk\//);
      if (!entry.name.endsWith('Preflight')) expect(bundle).toContain('DynamoDB');
      expect(fs.existsSync(path.join(outdir, assetDirectory(fn), 'index.mjs.map'))).toBe(true);
    }
  });

  it('deploy byte for byte the bundles bench:cold measures, without the profile credential links', async () => {
    const root = path.resolve(import.meta.dirname, '..', '..');
    const scratch = fs.mkdtempSync(path.join(outdir, 'bench-'));
    // one function per entry file: the functions of one file share its bundle
    const byEntry = new Map(HOLDOVER_FUNCTIONS.map((entry) => [entry.entry, entry]));
    for (const entry of byEntry.values()) {
      const outfile = path.join(scratch, entry.name, 'index.mjs');
      await build(esbuildBuildOptions(root, entry.entry, outfile));
      const [, fn] = functionNamed(template, entry.name);
      const deployed = fs.readFileSync(path.join(outdir, assetDirectory(fn), 'index.mjs'), 'utf8');
      expect(fs.readFileSync(outfile, 'utf8') === deployed, entry.name).toBe(true);
      // the SDK's default chain is aliased to functions/adapters/lambda-credentials.ts
      expect(deployed, entry.name).not.toContain('defaultProvider::fromSSO');
      expect(deployed, entry.name).not.toMatch(/from\s*"node:child_process"/);
    }
  });

  it('trace actively except the per-message routes (capture, presence), which pass through', () => {
    const modes = Object.fromEntries(
      HOLDOVER_FUNCTIONS.map((entry) => [
        entry.name,
        JSON.stringify(functionNamed(template, entry.name)[1].Properties.TracingConfig ?? {}),
      ]),
    );
    const passThrough = JSON.stringify({ Mode: 'PassThrough' });
    expect(modes).toMatchObject({ capture: passThrough, captureBatch: passThrough, presence: passThrough });
    for (const [name, mode] of Object.entries(modes)) {
      if (!['capture', 'captureBatch', 'presence'].includes(name))
        expect(mode, name).toBe(JSON.stringify({ Mode: 'Active' }));
    }
  });

  it('route each HTTP entry through the API', () => {
    const routes = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route')).map(
      (route) => route.Properties.RouteKey,
    );
    const declared = HOLDOVER_FUNCTIONS.flatMap((entry) =>
      entry.trigger.kind === 'http' ? [`${entry.trigger.method} ${entry.trigger.path}`] : [],
    );
    expect(routes.sort()).toEqual(declared.sort());
    expect(declared).toEqual(
      expect.arrayContaining([
        'POST /v1/messages',
        'POST /v1/presence',
        'GET /v1/users/{aor}/messages',
        'GET /v1/users/{aor}/summary',
        'GET /v1/users/{aor}/settings',
        'PUT /v1/users/{aor}/settings',
        'GET /v1/stats',
        'GET /v1/dead',
        'DELETE /v1/dead/{id}',
        'DELETE /v1/dead',
        'GET /v1/health',
        'GET /v1/users',
        'PUT /v1/users/{aor}/credentials',
        'DELETE /v1/users/{aor}/credentials',
        'GET /v1/credentials/{aor}',
        'POST /v1/session',
        'DELETE /v1/session',
        'POST /v1/users/{aor}/token',
        'GET /v1/me',
        'GET /v1/me/messages',
        'GET /v1/me/settings',
        'PUT /v1/me/settings',
        'GET /',
        'GET /console/{asset}',
        'PUT /v1/groups/{aor}',
        'GET /v1/groups/{aor}',
        'GET /v1/groups',
        'DELETE /v1/groups/{aor}',
        'GET /v1/availability/{aor}',
        'OPTIONS /v1/availability/{aor}',
      ]),
    );
  });

  it('consume the delivery and expired queues, reporting partial batch failures', () => {
    const mappings = Object.values(resourcesOf(template, 'AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(2);
    for (const mapping of mappings)
      expect(mapping.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    for (const [name, queue] of [
      ['delivery', 'delivery'],
      ['email', 'expired'],
    ] as const) {
      const entry = HOLDOVER_FUNCTIONS.find((candidate) => candidate.name === name);
      if (entry?.trigger.kind !== 'queue') throw new Error(`${name} is not a queue consumer`);
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: functionNamed(template, name)[0] },
        EventSourceArn: { 'Fn::GetAtt': [queueId(queue), 'Arn'] },
        BatchSize: entry.trigger.batchSize,
        ScalingConfig: { MaximumConcurrency: entry.trigger.maxConcurrency },
      });
    }
  });

  it('give delivery five minutes, and each work queue six times its consumer timeout of visibility', () => {
    expect(functionNamed(template, 'delivery')[1].Properties.Timeout).toBe(300);
    const queues = resourcesOf(template, 'AWS::SQS::Queue');
    for (const [queue, consumer] of [
      ['delivery', 'delivery'],
      ['expired', 'email'],
    ] as const) {
      const timeout = functionNamed(template, consumer)[1].Properties.Timeout as number;
      expect(queues[queueId(queue)]?.Properties.VisibilityTimeout).toBe(6 * timeout);
    }
  });

  it('run the sweeper on the schedule, without retries (the next sweep is the retry)', () => {
    const [sweeperId] = functionNamed(template, 'sweeper');
    const rules = Object.values(resourcesOf(template, 'AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      Targets: [expect.objectContaining({ Arn: { 'Fn::GetAtt': [sweeperId, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: sweeperId },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });
});

/** The replay check's grant: PutItem on nonce items only. */
function isNonceGuard(statement: Statement): boolean {
  return JSON.stringify(statement.Condition ?? {}).includes('NONCE#');
}

describe('least privilege', () => {
  it('grants no wildcard action, and a wildcard resource only where AWS has nothing narrower', () => {
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).flatMap(
      (policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    for (const statement of statements.filter((candidate) => candidate.Effect === 'Allow')) {
      const actions = [statement.Action].flat();
      for (const action of actions) expect(action, JSON.stringify(statement)).not.toMatch(/(^|:)\*$/);
      if ([statement.Resource].flat().includes('*')) {
        for (const action of actions) expect(ONLY_ON_STAR, JSON.stringify(statement)).toContain(action);
      }
    }
  });

  it('gives each function exactly the actions it calls', () => {
    expect(Object.keys(ALLOWED).sort()).toEqual(HOLDOVER_FUNCTIONS.map((entry) => entry.name).sort());
    for (const [name, allowed] of Object.entries(ALLOWED)) {
      expect(actionsOf(statementsOfFunction(template, name)), name).toEqual(
        [...new Set([...TRACING, ...allowed])].sort(),
      );
    }
  });

  it('grants DynamoDB on the table only, the expiry index to the sweeper and the dead-letter routes only, the order index for Query only', () => {
    const tableArn = { 'Fn::GetAtt': [onlyKey(resourcesOf(template, 'AWS::DynamoDB::Table')), 'Arn'] };
    for (const entry of HOLDOVER_FUNCTIONS) {
      for (const statement of dynamoStatements(entry.name)) {
        const onIndex = JSON.stringify(statement.Resource).includes(`/index/${EXPIRY_INDEX}`);
        const onOrder = JSON.stringify(statement.Resource).includes(`/index/${ORDER_INDEX}`);
        if (onOrder) {
          expect(statement.Action, entry.name).toEqual('dynamodb:Query');
        } else if (onIndex) {
          // the expiry shards (sweeper), the dead letters' list (DEAD) and the alerts' (ALERTS) live in gsi1
          expect(['sweeper', 'dead', 'deadPurgeOne', 'deadPurgeAll', 'listAlerts']).toContain(entry.name);
          expect(statement.Action).toEqual('dynamodb:Query');
        } else {
          expect(statement.Resource, entry.name).toEqual(tableArn);
        }
      }
    }
    expect(dynamoStatements('sweeper').map((statement) => statement.Action)).toContainEqual('dynamodb:Query');
  });

  it('lets every state-changing signed route claim nonces, and only nonce items (replay check)', () => {
    const nonceOnly = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['NONCE#*'] } };
    for (const entry of HOLDOVER_FUNCTIONS) {
      // signed calls (who: operator) that change state; a token call carries no nonce
      const changesState =
        entry.trigger.kind === 'http' &&
        entry.trigger.method !== 'GET' &&
        entry.trigger.who.includes('operator');
      expect(entry.access.replayGuard === true, `${entry.name}: replayGuard`).toBe(changesState);
      const guards = dynamoStatements(entry.name).filter((statement) => isNonceGuard(statement));
      if (!changesState) {
        expect(guards, entry.name).toEqual([]);
        continue;
      }
      expect(guards, entry.name).toHaveLength(1);
      expect(guards[0]?.Action, entry.name).toBe('dynamodb:PutItem');
      expect(guards[0]?.Condition, entry.name).toEqual(nonceOnly);
    }
  });

  it('grants no PartiQL: every state change is a conditional item write or transaction', () => {
    for (const entry of HOLDOVER_FUNCTIONS) {
      const partiql = actionsOf(statementsOfFunction(template, entry.name)).filter((action) =>
        action.startsWith('dynamodb:PartiQL'),
      );
      expect(partiql, entry.name).toEqual([]);
    }
  });

  it('lets only delivery, the sweeper, email and the dead-letter purge change held messages (UpdateItem/DeleteItem); capture only adds, and takes back what it added past the quota', () => {
    const writers = HOLDOVER_FUNCTIONS.filter((entry) =>
      actionsOf(statementsOfFunction(template, entry.name).filter((statement) => !statement.Condition)).some(
        (action) => ['dynamodb:UpdateItem', 'dynamodb:DeleteItem'].includes(action),
      ),
    ).map((entry) => entry.name);
    // capture (single and batch, a chat visitor's line, an alert's members): UpdateItem only for
    // a queue's memory (groups), never a held message; DeleteItem only for its own message written
    // past the quota (conditional on its id and `pending`)
    expect(writers.sort()).toEqual([
      'capture',
      'captureBatch',
      'chatPostLine',
      'deadPurgeAll',
      'deadPurgeOne',
      'delivery',
      'email',
      'inboundEmail',
      'sweeper',
    ]);
  });

  it('confines the credentials functions to the credentials partition (dynamodb:LeadingKeys)', () => {
    const onCredentials = { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['CREDENTIALS'] } };
    const credentialFunctions = ['putCredentials', 'deleteCredentials', 'listUsers', 'getCredentials'];
    for (const name of credentialFunctions) {
      const unconditioned = dynamoStatements(name).filter((statement) => !statement.Condition);
      expect(unconditioned, name).toEqual([]);
    }
    // who reads or writes the hashes: the credentials functions, sign-in and the token mint (the admin flag)
    const readers = HOLDOVER_FUNCTIONS.filter((entry) =>
      dynamoStatements(entry.name).some(
        (statement) => JSON.stringify(statement.Condition) === JSON.stringify(onCredentials),
      ),
    ).map((entry) => entry.name);
    expect(readers.sort()).toEqual([...credentialFunctions, 'mintToken', 'signIn'].sort());
  });

  it('confines session grants to sign-in failures and revoked tokens, for every route that takes a token', () => {
    const onSessions = {
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SIGNIN#*', 'REVOKED#*'] },
    };
    for (const entry of HOLDOVER_FUNCTIONS) {
      const sessionStatements = dynamoStatements(entry.name).filter((statement) =>
        JSON.stringify(statement.Condition ?? {}).match(/SIGNIN|REVOKED/),
      );
      const takesTokens =
        entry.trigger.kind === 'http' &&
        entry.trigger.who.some((caller) => caller === 'admin' || caller === 'user' || caller === 'self');
      if (takesTokens || entry.name === 'signIn') {
        expect(sessionStatements, entry.name).toHaveLength(1);
        expect(sessionStatements[0]?.Condition, entry.name).toEqual(onSessions);
        expect([sessionStatements[0]?.Action].flat(), entry.name).toContain('dynamodb:GetItem');
      } else {
        expect(sessionStatements, entry.name).toEqual([]);
      }
    }
  });

  it('declares who may call each route, and only the console, sign-in, availability, chat pages and health are public', () => {
    const publicRoutes = HOLDOVER_FUNCTIONS.filter(
      (entry) => entry.trigger.kind === 'http' && entry.trigger.who.includes('public'),
    ).map((entry) => entry.name);
    expect(publicRoutes.sort()).toEqual([
      'availability',
      'availabilityPreflight',
      'chatMessagesPreflight',
      'chatPage',
      'chatScript',
      'chatsPreflight',
      'console',
      'consoleAsset',
      'health',
      'signIn',
      'startChat',
    ]);
    // a chat's own routes take its chat token, and nothing else
    const chatRoutes = HOLDOVER_FUNCTIONS.filter(
      (entry) => entry.trigger.kind === 'http' && entry.trigger.who.includes('chat'),
    ).map((entry) => [entry.name, entry.trigger.kind === 'http' ? entry.trigger.who : []]);
    expect(chatRoutes).toEqual([
      ['chatPostLine', ['chat']],
      ['chatRead', ['chat']],
    ]);
    const edgeOnly = HOLDOVER_FUNCTIONS.filter(
      (entry) => entry.trigger.kind === 'http' && entry.trigger.who.join() === 'operator',
    ).map((entry) => entry.name);
    expect(edgeOnly.sort()).toEqual(['capture', 'captureBatch', 'getCredentials', 'mintToken', 'presence']);
  });

  it('confines the group routes, and the availability read of a group, to the group items (dynamodb:LeadingKeys)', () => {
    const groupItems = {
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['GROUPS', 'MEMBER#*', 'GROUPQ#*'] },
    };
    for (const name of GROUP_FUNCTIONS) {
      const onTable = statementsOfFunction(template, name).filter(
        (statement) =>
          !isNonceGuard(statement) &&
          [statement.Action].flat().some((action) => String(action).startsWith('dynamodb:')),
      );
      const confined = onTable.filter(
        (statement) => statement.Condition && !JSON.stringify(statement.Condition).match(/SIGNIN|REVOKED/),
      );
      expect(confined, name).toHaveLength(1);
      expect(confined[0]?.Condition, name).toEqual(groupItems);
      // only availability reads anything else: the user items' Query (presence, settings)
      const free = onTable.filter((statement) => !statement.Condition);
      expect(
        free.map((statement) => statement.Action),
        name,
      ).toEqual(name === 'availability' ? ['dynamodb:Query'] : []);
    }
    // the public route reads only: no write action anywhere in its grants, and no secret
    const availability = actionsOf(statementsOfFunction(template, 'availability'));
    for (const action of ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'])
      expect(availability).not.toContain(`dynamodb:${action}`);
    expect(availability).not.toContain('secretsmanager:GetSecretValue');
    expect(actionsOf(statementsOfFunction(template, 'availabilityPreflight'))).toEqual([...TRACING].sort());
  });

  it('confines the chat grants to the chat items (CHAT#…), and keeps the public chat routes off held messages', () => {
    const chatItems = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['CHAT#*'] } };
    const onChats = (name: string) =>
      statementsOfFunction(template, name).filter(
        (statement) => JSON.stringify(statement.Condition) === JSON.stringify(chatItems),
      );
    const expected: Record<string, string[]> = {
      startChat: table('PutItem'),
      chatPostLine: table('DeleteItem', 'PutItem', 'Query', 'UpdateItem'),
      chatRead: table('Query', 'UpdateItem'),
      delivery: table('UpdateItem'),
      email: table('Query'),
    };
    for (const entry of HOLDOVER_FUNCTIONS) {
      expect(actionsOf(onChats(entry.name)), entry.name).toEqual(expected[entry.name] ?? []);
    }
    // the long poll touches only its chat: no other table grant, no queue, no order index
    const read = statementsOfFunction(template, 'chatRead').filter((statement) =>
      [statement.Action].flat().some((action) => String(action).startsWith('dynamodb:')),
    );
    expect(
      read.every(
        (statement) =>
          JSON.stringify(statement.Condition).includes('CHAT#*') ||
          JSON.stringify(statement.Condition).includes('SIGNIN#'),
      ),
    ).toBe(true);
    // starting a chat reads a user or group as availability does, and writes only its chat
    const start = statementsOfFunction(template, 'startChat').filter((statement) => !statement.Condition);
    expect(actionsOf(start).filter((action) => action.startsWith('dynamodb:'))).toEqual(table('Query'));
  });

  it('caps the public chat routes at the stage throttle, and lets the long poll run 20 s', () => {
    const [stage] = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'));
    const settings = (stage?.Properties.RouteSettings ?? {}) as Record<string, unknown>;
    for (const route of [
      'POST /v1/chats',
      'POST /v1/chats/{chatId}/messages',
      'GET /v1/chats/{chatId}/messages',
    ]) {
      expect(settings[route], route).toEqual({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 });
    }
    const [, poll] = functionNamed(template, 'chatRead');
    expect(poll.Properties.Timeout).toBe(25);
  });

  it('lets functions send only to the queues they feed: capture (single and batch), presence, delivery and email to delivery; the sweeper to expired', () => {
    const sendsTo = (name: string) =>
      statementsOfFunction(template, name)
        .filter((statement) => [statement.Action].flat().includes('sqs:SendMessage'))
        .map((statement) => {
          // SendMessage comes alone, or (minimizePolicies) merged with the consumer's own actions
          // on the queue it consumes; never with any other action.
          for (const action of [statement.Action].flat()) expect([...SEND, ...CONSUMER]).toContain(action);
          return queueNamed(statement.Resource);
        })
        .sort();
    const expected: Record<string, string[]> = {
      capture: ['delivery'],
      captureBatch: ['delivery'],
      chatPostLine: ['delivery'],
      presence: ['delivery'],
      delivery: ['delivery'],
      email: ['delivery'],
      sweeper: ['expired'],
      inboundEmail: ['delivery'],
    };
    for (const entry of HOLDOVER_FUNCTIONS)
      expect(sendsTo(entry.name), entry.name).toEqual(expected[entry.name] ?? []);
  });

  it('keeps the expired queue away from presence and capture: no grant, no URL', () => {
    for (const name of ['presence', 'capture', 'captureBatch']) {
      const reach = JSON.stringify([statementsOfFunction(template, name), variablesOf(template, name)]);
      expect(reach, name).not.toContain(queueId('expired'));
      expect(reach, name).not.toContain(queueId('expired', 'DeadLetterQueue'));
    }
  });

  it('lets only the email function send email, from the configured identity', () => {
    for (const entry of HOLDOVER_FUNCTIONS) {
      const ses = statementsOfFunction(template, entry.name).filter((statement) =>
        [statement.Action].flat().some((action) => action.startsWith('ses:')),
      );
      if (entry.name !== 'email') {
        expect(ses, entry.name).toEqual([]);
        continue;
      }
      expect(ses).toHaveLength(1);
      expect(JSON.stringify(ses[0]?.Resource)).toMatch(
        /:identity\/",\{"Ref":"HoldoverDataMailIdentity[0-9A-F]{8}"\}/,
      );
    }
    expect(variablesOf(template, 'email').HOLDOVER_MAIL_FROM).toBe('holdover@example.com');
  });

  it('passes each function exactly the variables of its accesses, trigger and settings (the delivery batch only when set)', () => {
    for (const entry of HOLDOVER_FUNCTIONS) {
      const names = Object.keys(variablesOf(template, entry.name)).filter(
        (variable) => variable.startsWith('HOLDOVER_') || variable === 'OUTBOUND_PROXY',
      );
      expect(names.sort(), entry.name).toEqual(VARIABLES[entry.name]);
    }
    // Each queue URL names its own queue.
    for (const [name, variable, queue] of [
      ['capture', 'HOLDOVER_DELIVERY_QUEUE_URL', 'delivery'],
      ['email', 'HOLDOVER_DELIVERY_QUEUE_URL', 'delivery'],
      ['email', 'HOLDOVER_EXPIRED_QUEUE_URL', 'expired'],
      ['sweeper', 'HOLDOVER_EXPIRED_QUEUE_URL', 'expired'],
      ['delivery', 'HOLDOVER_DELIVERY_QUEUE_URL', 'delivery'],
    ] as const) {
      expect(variablesOf(template, name)[variable], `${name} ${variable}`).toEqual({ Ref: queueId(queue) });
    }
    // The sweeper claims what falls due before its next run: it must know the schedule's period.
    expect(variablesOf(template, 'sweeper').HOLDOVER_SWEEP_INTERVAL).toBe('60s');
  });
});

describe('monitoring', () => {
  it('has a dashboard with business, queue, function and API figures', () => {
    const [dashboard] = Object.values(resourcesOf(template, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const figure of [
      '"captured"',
      '"delivered"',
      '"expired"',
      '"emailed"',
      '"deliveryLatency"',
      'p50',
      'p99',
      '"overdueSeconds"',
      '"sweepIndexReads"',
      '"bouncedOnExpiry"',
      '"alertsReceived"',
      'alertsRefused',
      'alertsDispatched',
      'SEARCH(',
      '{Holdover,reason,service}',
      '{Holdover,route,service}',
      '"ApproximateNumberOfMessagesVisible"',
      '"Errors"',
      '"Throttles"',
      '"Duration"',
      '"4xx"',
      '"5xx"',
      '"Holdover"',
    ]) {
      expect(body, figure).toContain(figure.replaceAll('"', '\\"'));
    }
    expect(body).not.toContain('oldestHeldAge');
    for (const entry of HOLDOVER_FUNCTIONS) expect(body).toContain(`\\"label\\":\\"${entry.name}\\"`);
  });

  it("has the edge's widgets: its EMF metrics by name, its tasks and the load balancer's hosts", () => {
    const [dashboard] = Object.values(resourcesOf(template, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const name of Object.values(EDGE_METRICS)) expect(body, name).toContain(name);
    for (const figure of [
      '{Holdover,method,service}',
      '{Holdover,statusClass,service}',
      '{Holdover,outcome,service}',
      '"holdover-edge"',
      '"ECS/ContainerInsights"',
      '"RunningTaskCount"',
      '"DesiredTaskCount"',
      '"HealthyHostCount"',
      '"UnHealthyHostCount"',
    ]) {
      expect(body, figure).toContain(figure.replaceAll('"', '\\"'));
    }
  });

  it('sends every alarm to the SNS topic, with a runbook line as description', () => {
    const topic = onlyKey(resourcesOf(template, 'AWS::SNS::Topic'));
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
    // two DLQs, errors + throttles per function, API 5xx rate, email overdue, five of the edge (with the digest throttle)
    expect(alarms).toHaveLength(2 + 2 * HOLDOVER_FUNCTIONS.length + 2 + 5);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topic }]);
      expect(String(alarm.Properties.AlarmDescription)).toMatch(/^.{40,}$/);
    }
    const metricNames = alarms.map((alarm) => alarm.Properties.MetricName);
    expect(metricNames.filter((name) => name === 'Errors')).toHaveLength(HOLDOVER_FUNCTIONS.length);
    expect(metricNames.filter((name) => name === 'Throttles')).toHaveLength(HOLDOVER_FUNCTIONS.length);
    expect(JSON.stringify(alarms)).toContain('100 * failures / calls');
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('alarms when email is overdue by more than two sweeps for two sweeps, and when sweeps stop reporting', () => {
    const topic = onlyKey(resourcesOf(template, 'AWS::SNS::Topic'));
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Holdover',
      MetricName: 'overdueSeconds',
      Dimensions: [{ Name: 'service', Value: 'holdover' }],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 120,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'missing',
      InsufficientDataActions: [{ Ref: topic }],
      AlarmDescription: Match.stringLikeRegexp('schedule rule is enabled'),
    });
  });
});

describe('edge alarms', () => {
  const topic = () => onlyKey(resourcesOf(template, 'AWS::SNS::Topic'));
  const alarmWithId = (id: string) => {
    const entry = Object.entries(resourcesOf(template, 'AWS::CloudWatch::Alarm')).find(([logicalId]) =>
      logicalId.includes(id),
    );
    expect(entry, id).toBeDefined();
    return entry?.[1].Properties ?? {};
  };

  it('alarms when fewer edge tasks run than desired for five minutes (Container Insights)', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    const alarm = alarmWithId('EdgeTasksBelowDesired');
    expect(alarm).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      AlarmActions: [{ Ref: topic() }],
    });
    const metrics = JSON.stringify(alarm.Metrics);
    expect(metrics).toContain('desired - running');
    for (const figure of [
      'ECS/ContainerInsights',
      'RunningTaskCount',
      'DesiredTaskCount',
      'ServiceName',
      'ClusterName',
    ])
      expect(metrics, figure).toContain(figure);
    expect(String(alarm.AlarmDescription)).toMatch(/ECS service/);
  });

  it('alarms when the SIP target group has an unhealthy host for three minutes', () => {
    const alarm = alarmWithId('EdgeUnhealthyHosts');
    expect(alarm).toMatchObject({
      Namespace: 'AWS/NetworkELB',
      MetricName: 'UnHealthyHostCount',
      Statistic: 'Maximum',
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      AlarmActions: [{ Ref: topic() }],
    });
    const dimensions = JSON.stringify(alarm.Dimensions);
    expect(dimensions).toContain('TargetGroup');
    expect(dimensions).toContain('LoadBalancer');
  });

  it("alarms on the edge's own metrics: shedding and failed calls to the API", () => {
    for (const [id, metricName, threshold] of [
      ['EdgeShedding', EDGE_METRICS.shed, 10],
      ['EdgeApiFailures', EDGE_METRICS.apiFailures, 5],
    ] as const) {
      expect(alarmWithId(id)).toMatchObject({
        Namespace: 'Holdover',
        MetricName: metricName,
        Dimensions: [{ Name: 'service', Value: 'holdover-edge' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: topic() }],
        OKActions: [{ Ref: topic() }],
      });
    }
  });

  it('alarms when the edge refuses 50+ digest attempts in 5 minutes for too many wrong passwords', () => {
    const alarm = alarmWithId('EdgeSipAuthThrottled');
    expect(alarm).toMatchObject({ Threshold: 50, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    const metrics = (alarm.Metrics ?? []) as Array<{
      MetricStat?: { Metric: { MetricName: string; Dimensions: unknown } };
    }>;
    const reasons = metrics
      .filter((entry) => entry.MetricStat?.Metric.MetricName === EDGE_METRICS.sipAuthThrottled)
      .map((entry) => entry.MetricStat?.Metric.Dimensions);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.arrayContaining([{ Name: 'reason', Value: 'aor' }]),
        expect.arrayContaining([{ Name: 'reason', Value: 'source' }]),
      ]),
    );
    expect(reasons).toHaveLength(2);
  });
});

describe('SIP edge', () => {
  it('listens on 5060 for UDP and TCP through one TCP_UDP listener and target group', () => {
    const groups = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    const sipGroup = Object.entries(groups).find(([, group]) => group.Properties.Port === 5060);
    expect(sipGroup?.[1].Properties).toMatchObject({
      Protocol: 'TCP_UDP',
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPath: '/health',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 5060,
      Protocol: 'TCP_UDP',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: sipGroup?.[0] } }],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network' });
    template.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      LoadBalancers: Match.arrayWith([
        Match.objectLike({ ContainerPort: 5060, TargetGroupArn: { Ref: sipGroup?.[0] } }),
      ]),
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          PortMappings: Match.arrayWith([
            { ContainerPort: 5060, Protocol: 'udp' },
            { ContainerPort: 5060, Protocol: 'tcp' },
          ]),
          Secrets: [Match.objectLike({ Name: 'HOLDOVER_SECRET' })],
        }),
      ],
    });
  });

  it('advertises the load balancer in Via and Contact and runs with the construct defaults', () => {
    const loadBalancer = onlyKey(resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
    const environment = edgeEnvironment(template);
    expect(environment).toMatchObject({
      SIP_HOST: '0.0.0.0',
      SIP_PORT: '5060',
      SIP_ADVERTISED_HOST: { 'Fn::GetAtt': [loadBalancer, 'DNSName'] },
      EDGE_HTTP_PORT: '8080',
      HOLDOVER_DOMAINS: 'example.com',
      HOLDOVER_MAX_BODY_BYTES: '65536',
      DELIVERY_TIMEOUT: '32s',
      MWI_POLL_INTERVAL: '30s',
    });
    expect(environment).not.toHaveProperty('OUTBOUND_PROXY');
    // The SIP proxies (the only SIP sources the security group admits) pass without a digest
    // challenge: they authenticated their users.
    expect(environment.HOLDOVER_TRUSTED_PROXIES).toBe(TEST_PROXY_CIDR);
    expect(JSON.stringify(environment.HOLDOVER_API_URL)).toMatch(/HoldoverApi/);
  });

  it('exposes nothing but SIP to the internet: one internet-facing load balancer, listeners on 5060 only', () => {
    const loadBalancers = Object.values(resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
    expect(loadBalancers.map((lb) => [lb.Properties.Type, lb.Properties.Scheme])).toEqual([
      ['network', 'internet-facing'],
    ]);
    const listeners = Object.values(resourcesOf(template, 'AWS::ElasticLoadBalancingV2::Listener'));
    expect(listeners.map((listener) => [listener.Properties.Port, listener.Properties.Protocol])).toEqual([
      [5060, 'TCP_UDP'],
    ]);
    // no HTTP target group either: the edge's HTTP port is behind no load balancer
    const groups = Object.values(resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup'));
    expect(groups.map((group) => group.Properties.Port)).toEqual([5060]);
  });

  it("gives the delivery function the edge's HTTP port by its private name, from inside the VPC", () => {
    expect(variablesOf(template, 'delivery').HOLDOVER_EDGE_URL).toBe('http://edge.holdover.internal:8080');
    template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', {
      Name: 'holdover.internal',
    });
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', {
      Name: 'edge',
      DnsConfig: Match.objectLike({ DnsRecords: [{ Type: 'A', TTL: 10 }] }),
    });
    const [, delivery] = functionNamed(template, 'delivery');
    const network = delivery.Properties.VpcConfig as { SecurityGroupIds: unknown[]; SubnetIds: unknown[] };
    expect(network.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [deliveryClientGroup(), 'GroupId'] }]);
    const isolated = Object.entries(resourcesOf(template, 'AWS::EC2::Subnet'))
      .filter(([, subnet]) => JSON.stringify(subnet.Properties.Tags).includes('Isolated'))
      .map(([id]) => ({ Ref: id }));
    expect(isolated).toHaveLength(2);
    expect(network.SubnetIds).toEqual(isolated);
    // the only function in the VPC
    for (const entry of HOLDOVER_FUNCTIONS.filter((candidate) => candidate.name !== 'delivery')) {
      expect(functionNamed(template, entry.name)[1].Properties.VpcConfig, entry.name).toBeUndefined();
    }
  });

  it("admits the edge's HTTP port only from the delivery function (and the SIP load balancer's health checks)", () => {
    const task = securityGroupWith('Holdover SIP edge');
    const loadBalancer = securityGroupWith('Holdover SIP load balancer');
    const rules = ingressRulesOf(task).filter((rule) => rule.FromPort === 8080 || rule.ToPort === 8080);
    expect(rules.every((rule) => rule.CidrIp === undefined && rule.CidrIpv6 === undefined)).toBe(true);
    expect(rules.map((rule) => rule.SourceSecurityGroupId).sort()).toEqual(
      [
        { 'Fn::GetAtt': [deliveryClientGroup(), 'GroupId'] },
        { 'Fn::GetAtt': [loadBalancer, 'GroupId'] },
      ].sort(),
    );
    // the load balancer forwards nothing to 8080 (no listener, above); it may only health-check it
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      SecurityGroups: [{ 'Fn::GetAtt': [loadBalancer, 'GroupId'] }],
    });
    // nobody else anywhere may reach 8080 by address
    for (const [id] of Object.entries(resourcesOf(template, 'AWS::EC2::SecurityGroup'))) {
      for (const rule of ingressRulesOf(id).filter((candidate) => candidate.FromPort === 8080)) {
        expect(rule.CidrIp, id).toBeUndefined();
      }
    }
  });

  it('keeps the delivery path off the internet: isolated subnets, no NAT, VPC endpoints for DynamoDB, SQS, Secrets Manager', () => {
    expect(Object.keys(resourcesOf(template, 'AWS::EC2::NatGateway'))).toEqual([]);
    const endpoints = Object.values(resourcesOf(template, 'AWS::EC2::VPCEndpoint'));
    const services = endpoints.map((endpoint) => [
      JSON.stringify(endpoint.Properties.ServiceName).match(/\.(dynamodb|sqs|secretsmanager)/)?.[1],
      endpoint.Properties.VpcEndpointType ?? 'Gateway',
    ]);
    expect(services.sort()).toEqual([
      ['dynamodb', 'Gateway'],
      ['secretsmanager', 'Interface'],
      ['sqs', 'Interface'],
    ]);
    const endpointGroup = securityGroupWith('Holdover VPC endpoints');
    expect(ingressRulesOf(endpointGroup).map((rule) => [rule.FromPort, rule.SourceSecurityGroupId])).toEqual([
      [443, { 'Fn::GetAtt': [deliveryClientGroup(), 'GroupId'] }],
    ]);
  });

  it('admits SIP only from the proxies, at the load balancer and at the task', () => {
    for (const group of [
      securityGroupWith('Holdover SIP edge'),
      securityGroupWith('Holdover SIP load balancer'),
    ]) {
      const sip = ingressRulesOf(group).filter((rule) => rule.FromPort === 5060);
      expect(sip.map((rule) => [rule.IpProtocol, rule.CidrIp]).sort(), group).toEqual([
        ['tcp', TEST_PROXY_CIDR],
        ['udp', TEST_PROXY_CIDR],
      ]);
    }
  });

  it('stages only the edge build context, never node_modules, .git or local data', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'HoldoverTest.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    const context = path.join(outdir, images[0]?.source.directory ?? '');
    expect(fs.readdirSync(context).sort()).toEqual(
      ['.dockerignore', 'edge', 'package-lock.json', 'package.json', 'shared', 'tsconfig.json'].sort(),
    );
    expect(fs.existsSync(path.join(context, images[0]?.source.dockerFile ?? ''))).toBe(true);
  });
});

/** Logical id of a work queue (or its DLQ), found by its physical name. */
function queueId(name: 'delivery' | 'expired', kind: 'Queue' | 'DeadLetterQueue' = 'Queue'): string {
  const physical = kind === 'Queue' ? `holdover-${name}` : `holdover-${name}-dlq`;
  const found = Object.entries(resourcesOf(template, 'AWS::SQS::Queue')).find(
    ([, queue]) => queue.Properties.QueueName === physical,
  );
  if (!found) throw new Error(`no queue ${physical}`);
  return found[0];
}

/** `delivery` or `expired` for a statement resource `{ Fn::GetAtt: [<queue id>, Arn] }`. */
function queueNamed(resource: unknown): string {
  const id = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0];
  for (const name of ['delivery', 'expired'] as const) if (id === queueId(name)) return name;
  throw new Error(`not a work queue: ${JSON.stringify(resource)}`);
}

interface IngressRule {
  IpProtocol: string;
  FromPort?: number;
  ToPort?: number;
  CidrIp?: unknown;
  CidrIpv6?: unknown;
  SourceSecurityGroupId?: unknown;
}

/** Logical id of the one security group whose description starts with `description`. */
function securityGroupWith(description: string): string {
  const found = Object.entries(resourcesOf(template, 'AWS::EC2::SecurityGroup')).filter(([, group]) =>
    String(group.Properties.GroupDescription).startsWith(description),
  );
  expect(found, description).toHaveLength(1);
  return found[0]?.[0] ?? '';
}

function deliveryClientGroup(): string {
  return securityGroupWith('Holdover delivery function');
}

/** A security group's ingress: inline rules and separate SecurityGroupIngress resources. */
function ingressRulesOf(groupId: string): IngressRule[] {
  const group = resourcesOf(template, 'AWS::EC2::SecurityGroup')[groupId];
  const inline = (group?.Properties.SecurityGroupIngress ?? []) as IngressRule[];
  const separate = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'))
    .filter(
      (rule) =>
        JSON.stringify(rule.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [groupId, 'GroupId'] }),
    )
    .map((rule) => rule.Properties as unknown as IngressRule);
  return [...inline, ...separate];
}

function dynamoStatements(name: string): Statement[] {
  return statementsOfFunction(template, name).filter((statement) =>
    [statement.Action].flat().some((action) => action.startsWith('dynamodb:')),
  );
}

function onlyKey(record: Record<string, Resource>): string {
  const keys = Object.keys(record);
  expect(keys).toHaveLength(1);
  return keys[0] ?? '';
}

/** The staged directory of a function's code asset, found through the assets manifest. */
function assetDirectory(fn: Resource): string {
  const key = (fn.Properties.Code as { S3Key: string }).S3Key;
  const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'HoldoverTest.assets.json'), 'utf8')) as {
    files: Record<string, { source: { path: string } }>;
  };
  return manifest.files[key.replace(/\.zip$/, '')]?.source.path ?? '';
}

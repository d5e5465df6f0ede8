// The catalogue's other trigger kinds and accesses, which the functions still to come (presence,
// delivery, sweeper, email) will use. Their files don't exist yet, so these entries borrow an
// existing handler file: only the wiring is under test, and bundling is skipped.
import * as fs from 'node:fs';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXPIRY_INDEX } from '../../functions/adapters/table.ts';
import type { FunctionEntry } from '../../infra/catalogue.ts';
import { Holdover } from '../../infra/holdover.ts';
import {
  actionsOf,
  functionNamed,
  resourcesOf,
  statementsOfFunction,
  synthHoldover,
} from './support/synth.ts';

const standIn = { entry: 'functions/health.ts', handler: 'handler' } as const;
const FUTURE: readonly FunctionEntry[] = [
  {
    name: 'presence',
    ...standIn,
    trigger: { kind: 'http', method: 'POST', path: '/v1/presence' },
    access: { table: ['GetItem', 'PutItem'], sendTo: ['delivery'], signingSecret: true },
  },
  {
    name: 'delivery',
    ...standIn,
    trigger: { kind: 'queue', queue: 'delivery', batchSize: 5, maxConcurrency: 4 },
    timeoutSeconds: 30,
    access: { table: ['Query', 'UpdateItem', 'DeleteItem'], edge: true, signingSecret: true },
  },
  {
    name: 'sweeper',
    ...standIn,
    trigger: { kind: 'schedule' },
    access: { expiryIndex: ['Query'], table: ['UpdateItem'], sendTo: ['expired'] },
  },
  {
    name: 'email',
    ...standIn,
    trigger: { kind: 'queue', queue: 'expired' },
    access: { table: ['GetItem', 'DeleteItem'], sendEmail: true },
  },
];

let template: Template;

beforeAll(() => {
  const synthesized = synthHoldover({ functions: FUTURE, bundle: false });
  template = synthesized.template;
  return () => fs.rmSync(synthesized.outdir, { recursive: true, force: true });
});

const TRACING = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
const QUEUE_CONSUMER = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];

describe('queue consumers', () => {
  it('report partial batch failures, with the entry batch size and concurrency cap', () => {
    const mappings = Object.values(resourcesOf(template, 'AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(2);
    for (const mapping of mappings)
      expect(mapping.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    const [deliveryId] = functionNamed(template, 'delivery');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: deliveryId },
      BatchSize: 5,
      ScalingConfig: { MaximumConcurrency: 4 },
    });
  });

  it('may consume their own queue only; delivery reaches the edge by URL', () => {
    const delivery = statementsOfFunction(template, 'delivery');
    expect(actionsOf(delivery)).toEqual(
      [
        ...TRACING,
        ...QUEUE_CONSUMER,
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
      ].sort(),
    );
    const variables = (
      functionNamed(template, 'delivery')[1].Properties.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(JSON.stringify(variables.HOLDOVER_EDGE_URL)).toMatch(/LoadBalancer.*:8080/);
  });

  it('lets only the email function send email, from the configured identity and address', () => {
    const email = statementsOfFunction(template, 'email');
    expect(actionsOf(email)).toEqual(
      [
        ...TRACING,
        ...QUEUE_CONSUMER,
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'ses:SendEmail',
        'ses:SendRawEmail',
      ].sort(),
    );
    const sendEmail = email.filter((statement) => [statement.Action].flat().includes('ses:SendEmail'));
    expect(JSON.stringify(sendEmail)).toMatch(/:identity\/",\{"Ref":"HoldoverDataMailIdentity[0-9A-F]{8}"\}/);
    for (const name of ['presence', 'delivery', 'sweeper']) {
      expect(
        actionsOf(statementsOfFunction(template, name)).filter((action) => action.startsWith('ses:')),
      ).toEqual([]);
    }
    const variables = (
      functionNamed(template, 'email')[1].Properties.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(variables.HOLDOVER_MAIL_FROM).toBe('holdover@example.com');
  });
});

describe('producers', () => {
  it('send to the queue they name, with its URL in the environment', () => {
    const presence = statementsOfFunction(template, 'presence');
    const send = presence.filter((s) => [s.Action].flat().includes('sqs:SendMessage'));
    expect(send).toHaveLength(1);
    expect(JSON.stringify(send[0]?.Resource)).toMatch(/DeliveryQueue/);
    const variables = (
      functionNamed(template, 'presence')[1].Properties.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(Object.keys(variables)).toContain('HOLDOVER_DELIVERY_QUEUE_URL');
    expect(Object.keys(variables)).not.toContain('HOLDOVER_EXPIRED_QUEUE_URL');
  });

  it('run the sweeper on the schedule, reading the expiry index only', () => {
    const [sweeperId] = functionNamed(template, 'sweeper');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [sweeperId, 'Arn'] } })],
    });
    const query = statementsOfFunction(template, 'sweeper').filter((s) =>
      [s.Action].flat().includes('dynamodb:Query'),
    );
    expect(JSON.stringify(query.map((s) => s.Resource))).toContain(`/index/${EXPIRY_INDEX}`);
    expect(query).toHaveLength(1);
    expect(JSON.stringify(query[0]?.Resource)).not.toMatch(/^\{"Fn::GetAtt"/);
  });
});

describe('catalogue checks at synth', () => {
  const build = (functions: readonly FunctionEntry[]) => () =>
    new Holdover(new Stack(), 'Holdover', {
      domains: ['example.com'],
      mail: { identity: 'example.com', from: 'holdover@example.com' },
      sipProxyCidrs: ['198.51.100.0/24'],
      removalPolicy: RemovalPolicy.DESTROY,
      functions,
    });

  it('refuses a consumer whose timeout the queue visibility cannot cover six times', () => {
    expect(
      build([
        {
          name: 'slow',
          ...standIn,
          trigger: { kind: 'queue', queue: 'delivery' },
          timeoutSeconds: 60,
          access: {},
        },
      ]),
    ).toThrow(/visibility timeout/);
  });

  it('refuses a route declared twice', () => {
    const route = { kind: 'http', method: 'GET', path: '/v1/health' } as const;
    expect(
      build([
        { name: 'one', ...standIn, trigger: route, access: {} },
        { name: 'two', ...standIn, trigger: route, access: {} },
      ]),
    ).toThrow(/declared twice/);
  });
});

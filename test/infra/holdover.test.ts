// The invariants of the Holdover construct (STYLE.md practice 10), on the stack synthesized once
// with real bundling: storage, queues, functions, least privilege, monitoring, the SIP edge.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXPIRY_INDEX, TTL_ATTRIBUTE, tableDefinition } from '../../functions/adapters/table.ts';
import { ESM_REQUIRE_BANNER } from '../../infra/bundling.ts';
import { HOLDOVER_FUNCTIONS } from '../../infra/catalogue.ts';
import {
  actionsOf,
  functionNamed,
  type Resource,
  resourcesOf,
  type Statement,
  statementsOfFunction,
  synthHoldover,
  TEST_PROXY_CIDR,
} from './support/synth.ts';

let template: Template;
let outdir: string;

beforeAll(() => {
  ({ template, outdir } = synthHoldover());
  return () => fs.rmSync(outdir, { recursive: true, force: true });
});

const SECRET_READ = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
const TRACING = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
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

  it('mirrors the key schema and expiry index declared in functions/adapters/table.ts', () => {
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
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state', 'claimedAt'] },
      }),
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
    const functions = resourcesOf(template, 'AWS::Lambda::Function');
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

  it('run the catalogue handlers from ESM bundles with the createRequire banner and the SDK left to the runtime', () => {
    for (const entry of HOLDOVER_FUNCTIONS) {
      const [, fn] = functionNamed(template, entry.name);
      expect(fn.Properties.Handler).toBe(`index.${entry.handler}`);
      const bundle = fs.readFileSync(path.join(outdir, assetDirectory(fn), 'index.mjs'), 'utf8');
      expect(bundle.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
      expect(bundle).toMatch(/from\s*"@aws-sdk\/client-dynamodb"/);
      expect(fs.existsSync(path.join(outdir, assetDirectory(fn), 'index.mjs.map'))).toBe(true);
    }
  });

  it('route each HTTP entry through the API', () => {
    for (const entry of HOLDOVER_FUNCTIONS) {
      if (entry.trigger.kind !== 'http') continue;
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: `${entry.trigger.method} ${entry.trigger.path}`,
      });
    }
  });
});

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

  it('lets capture write held messages and read the secret, and nothing else (no SQS, no email)', () => {
    const statements = statementsOfFunction(template, 'capture');
    expect(actionsOf(statements)).toEqual(
      [...TRACING, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', ...SECRET_READ].sort(),
    );
    expect(JSON.stringify(statements)).not.toMatch(/index\//);
  });

  it('keeps the operator and health endpoints read-only', () => {
    expect(actionsOf(statementsOfFunction(template, 'held'))).toEqual(
      [...TRACING, 'dynamodb:Query', ...SECRET_READ].sort(),
    );
    expect(actionsOf(statementsOfFunction(template, 'stats'))).toEqual(
      [...TRACING, 'dynamodb:Scan', ...SECRET_READ].sort(),
    );
    expect(actionsOf(statementsOfFunction(template, 'health'))).toEqual(
      [...TRACING, 'dynamodb:DescribeTable'].sort(),
    );
  });

  it('passes each function exactly the variables of its accesses and settings', () => {
    const variables = (name: string) =>
      Object.keys(
        (functionNamed(template, name)[1].Properties.Environment as { Variables: Record<string, unknown> })
          .Variables,
      ).filter((variable) => variable.startsWith('HOLDOVER_'));
    expect(variables('capture').sort()).toEqual([
      'HOLDOVER_DOMAINS',
      'HOLDOVER_EXPIRE_AFTER',
      'HOLDOVER_MAX_BODY_BYTES',
      'HOLDOVER_QUOTA',
      'HOLDOVER_SECRET_ARN',
      'HOLDOVER_TABLE',
    ]);
    expect(variables('health')).toEqual(['HOLDOVER_TABLE']);
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
      '"oldestHeldAge"',
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
  });

  it('sends every alarm to the SNS topic, with a runbook line as description', () => {
    const topic = onlyKey(resourcesOf(template, 'AWS::SNS::Topic'));
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
    // two DLQs, errors + throttles per function, API 5xx rate, oldest held message
    expect(alarms).toHaveLength(2 + 2 * HOLDOVER_FUNCTIONS.length + 2);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(String(alarm.Properties.AlarmDescription)).toMatch(/^.{40,}$/);
    }
    const metricNames = alarms.map((alarm) => alarm.Properties.MetricName);
    expect(metricNames.filter((name) => name === 'Errors')).toHaveLength(HOLDOVER_FUNCTIONS.length);
    expect(metricNames.filter((name) => name === 'Throttles')).toHaveLength(HOLDOVER_FUNCTIONS.length);
    expect(metricNames).toContain('oldestHeldAge');
    expect(JSON.stringify(alarms)).toContain('100 * failures / calls');
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
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

  it('admits SIP only from the proxies', () => {
    const [group] = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup'));
    const ingress = group?.Properties.SecurityGroupIngress as {
      IpProtocol: string;
      FromPort: number;
      CidrIp: unknown;
    }[];
    const sip = ingress.filter((rule) => rule.FromPort === 5060);
    expect(sip.map((rule) => [rule.IpProtocol, rule.CidrIp]).sort()).toEqual([
      ['tcp', TEST_PROXY_CIDR],
      ['udp', TEST_PROXY_CIDR],
    ]);
  });

  it('stages only the edge build context, never node_modules, .git or local data', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'HoldoverTest.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    const context = path.join(outdir, images[0]?.source.directory ?? '');
    expect(fs.readdirSync(context).sort()).toEqual(
      ['.dockerignore', 'edge', 'functions', 'package-lock.json', 'package.json', 'tsconfig.json'].sort(),
    );
    expect(fs.existsSync(path.join(context, images[0]?.source.dockerFile ?? ''))).toBe(true);
  });
});

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

// Synthesizes the Holdover construct in a plain stack, once per test file (bundling every function
// takes seconds on this machine), and offers the few template queries the tests share.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { FunctionEntry } from '../../../infra/catalogue.ts';
import { featureFlags } from '../../../infra/feature-flags.ts';
import { Holdover, type HoldoverProps } from '../../../infra/holdover.ts';

export const TEST_PROXY_CIDR = '198.51.100.0/24';

export interface Synthesized {
  template: Template;
  holdover: Holdover;
  /** The cloud assembly directory (asset staging lives there). */
  outdir: string;
}

export function synthHoldover(
  options: { functions?: readonly FunctionEntry[]; bundle?: boolean; props?: Partial<HoldoverProps> } = {},
): Synthesized {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdover-cdk-'));
  const app = new App({
    outdir,
    context: {
      // cdk.json's feature flags, as `cdk synth` and SST apply them.
      ...featureFlags(),
      // An empty list skips asset bundling: for stacks that only check wiring.
      ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    },
  });
  const stack = new Stack(app, 'HoldoverTest');
  const holdover = new Holdover(stack, 'Holdover', {
    domains: ['example.com'],
    mail: { identity: 'example.com', from: 'holdover@example.com' },
    sipProxyCidrs: [TEST_PROXY_CIDR],
    removalPolicy: RemovalPolicy.RETAIN,
    alarmEmail: 'ops@example.com',
    inboundMail: { domain: 'alerts.example.com' },
    ...(options.functions ? { functions: options.functions } : {}),
    ...options.props,
  });
  return { template: Template.fromStack(stack), holdover, outdir };
}

/** A template resource; `findResources` returns only resources that have properties here. */
export type Resource = { Type: string; Properties: Record<string, unknown> };

/** The resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The one Lambda function whose logical id comes from the catalogue entry `name`. */
export function functionNamed(template: Template, name: string): [string, Resource] {
  const id = `Holdover${name.charAt(0).toUpperCase()}${name.slice(1)}Function`;
  const found = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([logicalId]) =>
    new RegExp(`^${id}[0-9A-F]{8}$`).test(logicalId),
  );
  if (found.length !== 1 || !found[0]) throw new Error(`expected one function ${id}, found ${found.length}`);
  return found[0];
}

/** The environment variables of the function built from catalogue entry `name`. */
export function variablesOf(template: Template, name: string): Record<string, unknown> {
  const [, fn] = functionNamed(template, name);
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

/** The environment of the SIP edge's container, by name. */
export function edgeEnvironment(template: Template): Record<string, unknown> {
  const [task] = Object.values(resourcesOf(template, 'AWS::ECS::TaskDefinition'));
  const containers = (task?.Properties.ContainerDefinitions ?? []) as {
    Environment?: { Name: string; Value: unknown }[];
  }[];
  return Object.fromEntries(
    (containers[0]?.Environment ?? []).map((variable) => [variable.Name, variable.Value]),
  );
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every Allow statement of every IAM policy attached to the role `roleLogicalId`. */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((policy) =>
      ((policy.Properties.Roles as unknown[]) ?? []).some(
        (role) => JSON.stringify(role) === JSON.stringify({ Ref: roleLogicalId }),
      ),
    )
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .filter((statement) => statement.Effect === 'Allow');
}

export function actionsOf(statements: Statement[]): string[] {
  return [...new Set(statements.flatMap((statement) => [statement.Action].flat()))].sort();
}

/** Allow statements granted to the function built from catalogue entry `name`. */
export function statementsOfFunction(template: Template, name: string): Statement[] {
  const [, fn] = functionNamed(template, name);
  const role = fn.Properties.Role as { 'Fn::GetAtt': [string, string] };
  return statementsOfRole(template, role['Fn::GetAtt'][0]);
}

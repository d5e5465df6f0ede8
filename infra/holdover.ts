// The one definition of Holdover's AWS resources (DESIGN.md "Deployment"). infra/app.ts (CDK)
// and stacks/Holdover.ts (SST) both instantiate this construct and nothing else.
//
//   HoldoverData        stateful: table, delivery/expired queues + DLQs, signing secret, SES identity
//   HoldoverEdge        the SIP edge: Fargate behind an NLB (UDP+TCP 5060)
//   functions + API     stateless: one HoldoverFunction per catalogue entry, its trigger and grants
//   HoldoverMonitoring  dashboard, alarms, SNS topic
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { parseDuration } from '../functions/core/duration.ts';
import { grantAccess } from './access.ts';
import { type FunctionEntry, HOLDOVER_FUNCTIONS, type SettingName } from './catalogue.ts';
import { HoldoverData, type MailProps, QUEUE_VISIBILITY_TIMEOUT } from './data.ts';
import { HoldoverEdge } from './edge.ts';
import { DEFAULT_TIMEOUT_SECONDS, HoldoverFunction } from './function.ts';
import { HoldoverMonitoring } from './monitoring.ts';

export interface HoldoverProps {
  /** SIP domains served; a MESSAGE for any other domain is refused (no open relay). */
  readonly domains: readonly string[];
  readonly mail: MailProps;
  /** Source ranges of the SIP proxies allowed to reach the edge. */
  readonly sipProxyCidrs: readonly string[];
  /** RETAIN for production data; DESTROY for throw-away stages. */
  readonly removalPolicy: RemovalPolicy;
  /** Prefix of physical queue names. Default `holdover`. */
  readonly namePrefix?: string;
  /** Subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Default expiry of a held message (DESIGN.md: 72h). */
  readonly expireAfter?: string;
  readonly maxBodyBytes?: number;
  /** Pending messages per recipient. */
  readonly quota?: number;
  /** Period of the sweeper schedule. Default one minute. */
  readonly sweepInterval?: Duration;
  readonly logRetention?: logs.RetentionDays;
  /** Edge tasks; two spread the edge over two availability zones. */
  readonly edgeTasks?: number;
  readonly vpc?: ec2.IVpc;
  /** The function catalogue; tests add entries to exercise queue and schedule triggers. */
  readonly functions?: readonly FunctionEntry[];
  /** Directory holding package-lock.json, functions/ and edge/. Default: found from this file. */
  readonly projectRoot?: string;
}

export class Holdover extends Construct {
  readonly data: HoldoverData;
  readonly api: apigwv2.HttpApi;
  readonly edge: HoldoverEdge;
  readonly functions: readonly HoldoverFunction[];
  readonly monitoring: HoldoverMonitoring;

  constructor(scope: Construct, id: string, props: HoldoverProps) {
    super(scope, id);
    const projectRoot = props.projectRoot ?? findProjectRoot();
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const { removalPolicy } = props;
    const expireAfter = props.expireAfter ?? '72h';
    const maxBodyBytes = props.maxBodyBytes ?? 65_536;
    const sweepInterval = props.sweepInterval ?? Duration.minutes(1);
    const entries = props.functions ?? HOLDOVER_FUNCTIONS;
    checkCatalogue(entries);

    this.data = new HoldoverData(this, 'Data', {
      namePrefix: props.namePrefix ?? 'holdover',
      removalPolicy,
      mail: props.mail,
    });

    // Created without routes first: the edge needs the API's URL and the functions the edge's.
    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Holdover: capture, presence, user and operator endpoints (signed)',
    });

    this.edge = new HoldoverEdge(this, 'Edge', {
      projectRoot,
      apiUrl: this.api.apiEndpoint,
      signingSecret: this.data.signingSecret,
      sipProxyCidrs: props.sipProxyCidrs,
      maxBodyBytes,
      desiredCount: props.edgeTasks ?? 2,
      logRetention,
      removalPolicy,
      ...(props.vpc ? { vpc: props.vpc } : {}),
    });

    const settings: Record<SettingName, string> = {
      HOLDOVER_DOMAINS: props.domains.join(','),
      HOLDOVER_EXPIRE_AFTER: expireAfter,
      HOLDOVER_MAX_BODY_BYTES: String(maxBodyBytes),
      HOLDOVER_QUOTA: String(props.quota ?? 1000),
    };
    const resources = {
      table: this.data.table,
      signingSecret: this.data.signingSecret,
      queues: this.data.queues,
      mailIdentity: this.data.mailIdentity,
      mailFrom: this.data.mailFrom,
      edgeUrl: this.edge.httpUrl,
    };

    this.functions = entries.map((entry) => {
      const fn = new HoldoverFunction(this, functionId(entry), {
        entry,
        projectRoot,
        logRetention,
        removalPolicy,
      });
      for (const name of entry.settings ?? []) fn.addEnvironment(name, settings[name]);
      grantAccess(fn, entry.access, resources);
      const { trigger } = entry;
      switch (trigger.kind) {
        case 'http':
          this.api.addRoutes({
            path: trigger.path,
            methods: [apigwv2.HttpMethod[trigger.method]],
            integration: new HttpLambdaIntegration(`${functionId(entry)}Integration`, fn),
          });
          break;
        case 'queue':
          fn.addEventSource(
            new SqsEventSource(this.data.queues[trigger.queue].queue, {
              batchSize: trigger.batchSize ?? 10,
              reportBatchItemFailures: true,
              ...(trigger.maxConcurrency ? { maxConcurrency: trigger.maxConcurrency } : {}),
            }),
          );
          break;
        case 'schedule':
          new events.Rule(this, `${functionId(entry)}Schedule`, {
            description: `Runs the ${entry.name} function every ${sweepInterval.toHumanString()}`,
            schedule: events.Schedule.rate(sweepInterval),
            // No EventBridge retry: the next sweep is the retry.
            targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
          });
          break;
      }
      return fn;
    });

    this.monitoring = new HoldoverMonitoring(this, 'Monitoring', {
      functions: this.functions,
      queues: this.data.queues,
      api: this.api,
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
      // The sweeper hands a message to email within two sweeps of its expiry (DESIGN.md); an hour
      // past the default expiry is well beyond that.
      oldestHeldAlarmAge: Duration.millis(parseDuration(expireAfter)).plus(Duration.hours(1)),
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'HTTP API base URL' });
    new CfnOutput(this, 'SipAddress', {
      value: this.edge.loadBalancer.loadBalancerDnsName,
      description: 'Point the proxies at sip:<this>:5060 (UDP or TCP)',
    });
    new CfnOutput(this, 'SigningSecretArn', {
      value: this.data.signingSecret.secretArn,
      description: 'aws secretsmanager get-secret-value --secret-id <this> for the CLI and signed calls',
    });
    new CfnOutput(this, 'Dashboard', { value: this.monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.alarmTopic.topicArn });
  }
}

function functionId(entry: FunctionEntry): string {
  return `${entry.name.charAt(0).toUpperCase()}${entry.name.slice(1)}Function`;
}

/** Fails synth on a catalogue mistake that CloudFormation would only report mid-deploy. */
function checkCatalogue(entries: readonly FunctionEntry[]): void {
  const names = new Set<string>();
  const routes = new Set<string>();
  for (const entry of entries) {
    if (names.has(entry.name)) throw new Error(`Function ${entry.name} is declared twice`);
    names.add(entry.name);
    const { trigger } = entry;
    if (trigger.kind === 'http') {
      const route = `${trigger.method} ${trigger.path}`;
      if (routes.has(route)) throw new Error(`Route ${route} is declared twice`);
      routes.add(route);
    }
    if (trigger.kind === 'queue') {
      const timeout = entry.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
      // AWS's advice: visibility timeout at least six times the consumer's timeout.
      if (timeout * 6 > QUEUE_VISIBILITY_TIMEOUT.toSeconds()) {
        throw new Error(
          `${entry.name}: a ${timeout}s timeout needs a ${timeout * 6}s visibility timeout on the ${trigger.queue} queue`,
        );
      }
    }
  }
}

/** The directory holding package-lock.json above this file (also when SST bundles it into .sst/). */
export function findProjectRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package-lock.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`No package-lock.json above ${from}`);
  }
}

// The one definition of Holdover's AWS resources (docs/design.md "Deployment"). infra/app.ts (CDK)
// and stacks/Holdover.ts (SST) both instantiate this construct and nothing else.
//
//   HoldoverData        stateful: table, delivery/expired queues + DLQs, signing secret, SES identity
//   HoldoverEdge        the SIP edge: Fargate behind an NLB (SIP on UDP+TCP 5060 only); its HTTP port
//                       (/deliver) reached inside the VPC by name, from the delivery function only
//   functions + API     stateless: one HoldoverFunction per catalogue entry, its trigger, settings and grants
//   HoldoverMonitoring  dashboard, alarms, SNS topic

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { parseDuration } from '../shared/duration.ts';
import { SETTING_DEFAULTS } from '../shared/settings.ts';
import { targetOfUri } from '../shared/sip/uri.ts';
import { grantAccess, QUEUE_URL_VARIABLE } from './access.ts';
import { type FunctionEntry, HOLDOVER_FUNCTIONS, type QueueName, type SettingName } from './catalogue.ts';
import { consumerVisibilityTimeout, HoldoverData, type MailProps } from './data.ts';
import { HoldoverEdge } from './edge.ts';
import { DEFAULT_TIMEOUT_SECONDS, HoldoverFunction } from './function.ts';
import { HoldoverInboundMail, INBOUND_PREFIX, type InboundMailProps } from './inbound-mail.ts';
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
  /** Default expiry of a held message (docs/design.md: 72h). */
  readonly expireAfter?: string;
  readonly maxBodyBytes?: number;
  /** Pending messages per recipient. */
  readonly quota?: number;
  /**
   * SIP URI of the proxy every MESSAGE and NOTIFY from the edge goes through (the edge's
   * OUTBOUND_PROXY), e.g. `sip:proxy.example.com:5060;transport=tcp`. Unset: the edge sends to
   * the contact learnt from REGISTER, which must then be reachable from the internet.
   */
  readonly outboundProxy?: string;
  /** Host in the edge's Via and Contact (SIP_ADVERTISED_HOST). Default: the NLB's DNS name. */
  readonly sipAdvertisedHost?: string;
  /** How long the edge waits for a UA's final answer (DELIVERY_TIMEOUT). Default `32s` (Timer F). */
  readonly deliveryTimeout?: string;
  /** How often the edge re-reads MWI subscribers' counts (MWI_POLL_INTERVAL). Default `30s`. */
  readonly mwiPollInterval?: string;
  /**
   * Held messages per /deliver call (HOLDOVER_DELIVERY_BATCH), 1 to 100. Default: the delivery
   * function's own (functions/deliver.ts).
   */
  readonly deliveryBatchSize?: number;
  /**
   * The public availability route (GET /v1/availability/{aor}): its CORS origins (default `*`:
   * any web page may show the status; the chat routes answer the same origins), how long an
   * answer may be cached (default 5 s), and the requests a minute one client address may make
   * (default 60; per function instance). `throttle` caps every public route (chats too).
   */
  readonly availability?: {
    readonly allowOrigins?: readonly string[];
    readonly maxAgeSeconds?: number;
    readonly ratePerMinute?: number;
    /**
     * The stage's cap on the route, all clients together (API Gateway throttling; 429 past it):
     * default 100 requests a second, bursts of 200. The per-client limit is per function instance.
     */
    readonly throttle?: { readonly ratePerSecond?: number; readonly burst?: number };
  };
  /**
   * Click-to-chat (POST /v1/chats…): when a quiet chat ends (default 10m), how long a chat token
   * lives (default 2h), how long a chat is kept to record late answers (default 7d), and the chats
   * a client address may start (default 10) and lines a chat may send (default 20) a minute.
   */
  readonly chat?: {
    readonly idle?: string;
    readonly lifetime?: string;
    readonly retain?: string;
    readonly startsPerMinute?: number;
    readonly linesPerMinute?: number;
  };
  /** Period of the sweeper schedule. Default one minute. */
  readonly sweepInterval?: Duration;
  readonly logRetention?: logs.RetentionDays;
  /** Edge tasks; two spread the edge over two availability zones. */
  readonly edgeTasks?: number;
  readonly vpc?: ec2.IVpc;
  /** The function catalogue. Default: HOLDOVER_FUNCTIONS; tests pass others to exercise the synth checks. */
  readonly functions?: readonly FunctionEntry[];
  /**
   * An organisation's OIDC issuer for people, instead of signing in with the SIP password on the
   * `/v1/me…` routes (docs/design.md "Security"): API Gateway's JWT authorizer checks the token on
   * those routes, and the claim `claim` (default `email`) names the user as `sip:<value>`.
   * Unset: people sign in with POST /v1/session.
   */
  readonly oidc?: OidcProps;
  /**
   * Alerts from email: the groups' inbound domain, whose mail SES receives (receipt rule → S3 →
   * the inbound-email function). Unset: no inbound mail (groups' --email addresses receive nothing).
   */
  readonly inboundMail?: InboundMailProps;
  /** Directory holding package-lock.json, functions/ and edge/. Default: found from this file. */
  readonly projectRoot?: string;
  /**
   * CDK feature flags set on this construct before anything is added to it, for a front door
   * whose app and stack it cannot configure (SST: infra/feature-flags.ts). The CDK app gets them
   * from cdk.json instead.
   */
  readonly featureFlags?: Readonly<Record<string, unknown>>;
}

export interface OidcProps {
  /** The issuer URL (`https://login.example.com/`): its discovery document and keys. */
  readonly issuer: string;
  /** Accepted `aud` values (the client ids). */
  readonly audience: readonly string[];
  /** The claim that holds the user's address. Default `email`: `bob@example.com` → `sip:bob@example.com`. */
  readonly claim?: string;
}

/** The routes an OIDC token may reach: those for a person's own data only. */
export function takesOidc(entry: FunctionEntry): boolean {
  return (
    entry.trigger.kind === 'http' &&
    entry.trigger.who.length === 1 &&
    entry.trigger.who[0] === 'user' &&
    entry.trigger.method !== 'DELETE'
  );
}

export class Holdover extends Construct {
  readonly data: HoldoverData;
  readonly api: apigwv2.HttpApi;
  readonly edge: HoldoverEdge;
  readonly functions: readonly HoldoverFunction[];
  readonly monitoring: HoldoverMonitoring;
  readonly inboundMail?: HoldoverInboundMail;

  constructor(scope: Construct, id: string, props: HoldoverProps) {
    super(scope, id);
    for (const [flag, value] of Object.entries(props.featureFlags ?? {})) this.node.setContext(flag, value);
    const projectRoot = props.projectRoot ?? findProjectRoot();
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const { removalPolicy } = props;
    const expireAfter = props.expireAfter ?? SETTING_DEFAULTS.HOLDOVER_EXPIRE_AFTER;
    const maxBodyBytes = props.maxBodyBytes ?? SETTING_DEFAULTS.HOLDOVER_MAX_BODY_BYTES;
    const sweepInterval = props.sweepInterval ?? Duration.minutes(1);
    const deliveryTimeout = props.deliveryTimeout ?? '32s';
    const mwiPollInterval = props.mwiPollInterval ?? '30s';
    checkProps({ ...props, expireAfter, deliveryTimeout, mwiPollInterval });
    if (props.oidc && !/^https:\/\/[^/\s]+/.test(props.oidc.issuer)) {
      throw new Error(`oidc.issuer must be the issuer's https:// URL, got "${props.oidc.issuer}"`);
    }
    if (props.oidc && props.oidc.audience.length === 0) {
      throw new Error('oidc.audience must name at least one client id');
    }
    // the inbound-email function only with an inbound domain
    const entries = (props.functions ?? HOLDOVER_FUNCTIONS).filter(
      (entry) => entry.trigger.kind !== 'inboundMail' || props.inboundMail !== undefined,
    );
    const consumers = checkCatalogue(entries);

    this.data = new HoldoverData(this, 'Data', {
      namePrefix: props.namePrefix ?? 'holdover',
      removalPolicy,
      mail: props.mail,
      visibilityTimeouts: Object.fromEntries(
        [...consumers].map(([queue, consumer]) => [
          queue,
          consumerVisibilityTimeout(Duration.seconds(consumer.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS)),
        ]),
      ),
    });

    // Created without routes first: the edge needs the API's URL and the functions the edge's.
    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Holdover: capture, presence, user and operator endpoints, the web console',
    });

    this.edge = new HoldoverEdge(this, 'Edge', {
      projectRoot,
      apiUrl: this.api.apiEndpoint,
      signingSecret: this.data.signingSecret,
      sipProxyCidrs: props.sipProxyCidrs,
      maxBodyBytes,
      domains: props.domains,
      deliveryTimeout,
      mwiPollInterval,
      ...(props.sipAdvertisedHost ? { sipAdvertisedHost: props.sipAdvertisedHost } : {}),
      ...(props.outboundProxy ? { outboundProxy: props.outboundProxy } : {}),
      desiredCount: props.edgeTasks ?? 2,
      logRetention,
      removalPolicy,
      ...(props.vpc ? { vpc: props.vpc } : {}),
      privateDnsNamespace: `${props.namePrefix ?? 'holdover'}.internal`,
    });

    const settings: Record<SettingName, string | undefined> = {
      HOLDOVER_DOMAINS: props.domains.join(','),
      HOLDOVER_EXPIRE_AFTER: expireAfter,
      HOLDOVER_MAX_BODY_BYTES: String(maxBodyBytes),
      HOLDOVER_QUOTA: String(props.quota ?? SETTING_DEFAULTS.HOLDOVER_QUOTA),
      HOLDOVER_DELIVERY_BATCH: props.deliveryBatchSize?.toString(),
      HOLDOVER_SWEEP_INTERVAL: `${sweepInterval.toSeconds()}s`,
      HOLDOVER_CORS_ORIGINS: (
        props.availability?.allowOrigins ?? [SETTING_DEFAULTS.HOLDOVER_CORS_ORIGINS]
      ).join(','),
      HOLDOVER_AVAILABILITY_MAX_AGE: String(
        props.availability?.maxAgeSeconds ?? SETTING_DEFAULTS.HOLDOVER_AVAILABILITY_MAX_AGE,
      ),
      HOLDOVER_AVAILABILITY_RATE: String(
        props.availability?.ratePerMinute ?? SETTING_DEFAULTS.HOLDOVER_AVAILABILITY_RATE,
      ),
      HOLDOVER_CHAT_IDLE: props.chat?.idle ?? SETTING_DEFAULTS.HOLDOVER_CHAT_IDLE,
      HOLDOVER_CHAT_LIFETIME: props.chat?.lifetime ?? SETTING_DEFAULTS.HOLDOVER_CHAT_LIFETIME,
      HOLDOVER_CHAT_RETAIN: props.chat?.retain ?? SETTING_DEFAULTS.HOLDOVER_CHAT_RETAIN,
      HOLDOVER_CHAT_START_RATE: String(
        props.chat?.startsPerMinute ?? SETTING_DEFAULTS.HOLDOVER_CHAT_START_RATE,
      ),
      HOLDOVER_CHAT_LINE_RATE: String(props.chat?.linesPerMinute ?? SETTING_DEFAULTS.HOLDOVER_CHAT_LINE_RATE),
      // The delivery function only asks whether there is one (no registered contact needed then).
      OUTBOUND_PROXY: props.outboundProxy,
    };
    if (props.inboundMail) {
      this.inboundMail = new HoldoverInboundMail(this, 'InboundMail', {
        ...props.inboundMail,
        namePrefix: props.namePrefix ?? 'holdover',
        removalPolicy,
      });
    }
    const resources = {
      ...(this.inboundMail
        ? { inboundMail: { bucket: this.inboundMail.bucket, prefix: INBOUND_PREFIX } }
        : {}),
      table: this.data.table,
      signingSecret: this.data.signingSecret,
      queues: this.data.queues,
      mailIdentity: this.data.mailIdentity,
      mailFrom: this.data.mailFrom,
      edgeUrl: this.edge.httpUrl,
    };

    const oidcAuthorizer = props.oidc
      ? new HttpJwtAuthorizer('OidcAuthorizer', props.oidc.issuer, {
          jwtAudience: [...props.oidc.audience],
          identitySource: ['$request.header.Authorization'],
        })
      : undefined;

    this.functions = entries.map((entry) => {
      const fn = new HoldoverFunction(this, functionId(entry), {
        entry,
        projectRoot,
        logRetention,
        removalPolicy,
        // A caller of the edge runs in the VPC: the edge's HTTP port is reachable nowhere else.
        ...(entry.access.edge ? { network: this.edge.clientNetwork } : {}),
      });
      for (const name of entry.settings ?? []) {
        const value = settings[name];
        if (value !== undefined) fn.addEnvironment(name, value);
      }
      grantAccess(fn, entry.access, resources);
      const { trigger } = entry;
      switch (trigger.kind) {
        case 'http': {
          const oidc = oidcAuthorizer !== undefined && takesOidc(entry);
          // The function reads the person from the authorizer's verified claims (adapters/http.ts).
          if (oidc) fn.addEnvironment('HOLDOVER_OIDC_CLAIM', props.oidc?.claim ?? 'email');
          const routes = this.api.addRoutes({
            path: trigger.path,
            methods: [apigwv2.HttpMethod[trigger.method]],
            integration: new HttpLambdaIntegration(`${functionId(entry)}Integration`, fn),
            ...(oidc ? { authorizer: oidcAuthorizer } : {}),
          });
          if (trigger.publicThrottle) {
            const stage = this.api.defaultStage?.node.defaultChild as apigwv2.CfnStage;
            const throttle = props.availability?.throttle;
            stage.addPropertyOverride(`RouteSettings.${trigger.method} ${trigger.path}`, {
              ThrottlingRateLimit: throttle?.ratePerSecond ?? 100,
              ThrottlingBurstLimit: throttle?.burst ?? 200,
            });
            // The settings name the route: the stage is updated once the route exists.
            for (const route of routes) stage.node.addDependency(route);
          }
          break;
        }
        // Queue and schedule wiring is spelled out rather than left to SqsEventSource and
        // targets.LambdaFunction: those name their resources after the stack, and the CDK app
        // and SST must produce the same logical ids (test/infra/front-doors.test.ts).
        case 'queue': {
          const { queue } = this.data.queues[trigger.queue];
          // Consumers postpone a job with ChangeMessageVisibility, on the queue they consume.
          fn.addEnvironment(QUEUE_URL_VARIABLE[trigger.queue], queue.queueUrl);
          queue.grantConsumeMessages(fn);
          fn.addEventSourceMapping('QueueTrigger', {
            eventSourceArn: queue.queueArn,
            batchSize: trigger.batchSize ?? 10,
            reportBatchItemFailures: true,
            ...(trigger.maxConcurrency ? { maxConcurrency: trigger.maxConcurrency } : {}),
          });
          break;
        }
        case 'schedule': {
          const rule = new events.Rule(this, `${functionId(entry)}Schedule`, {
            description: `Runs the ${entry.name} function every ${sweepInterval.toHumanString()}`,
            schedule: events.Schedule.rate(sweepInterval),
          });
          // No EventBridge retry: the next sweep is the retry.
          rule.addTarget({ bind: () => ({ arn: fn.functionArn, retryPolicy: { maximumRetryAttempts: 0 } }) });
          fn.addPermission('ScheduleInvoke', {
            principal: new iam.ServicePrincipal('events.amazonaws.com'),
            sourceArn: rule.ruleArn,
          });
          // Nor a Lambda one, and a run that could not start within its interval is dropped.
          fn.configureAsyncInvoke({
            retryAttempts: 0,
            maxEventAge: Duration.seconds(Math.max(60, sweepInterval.toSeconds())),
          });
          break;
        }
        case 'inboundMail': {
          // SES has already accepted the mail: a refused one is dropped (and counted), and a
          // failure is retried by Lambda's asynchronous retries (twice).
          this.inboundMail?.addRule(fn);
          break;
        }
      }
      return fn;
    });

    this.monitoring = new HoldoverMonitoring(this, 'Monitoring', {
      functions: this.functions,
      queues: this.data.queues,
      api: this.api,
      edge: this.edge,
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
      sweepInterval,
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
    if (this.inboundMail) {
      new CfnOutput(this, 'InboundRuleSet', {
        value: this.inboundMail.ruleSet.receiptRuleSetName,
        description: 'Activate once: aws ses set-active-receipt-rule-set --rule-set-name <this>',
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.alarmTopic.topicArn });
  }
}

function functionId(entry: FunctionEntry): string {
  return `${entry.name.charAt(0).toUpperCase()}${entry.name.slice(1)}Function`;
}

/**
 * Fails synth on a catalogue mistake that CloudFormation would only report mid-deploy. Returns
 * each queue's consumer, from which the queue's visibility timeout follows.
 */
function checkCatalogue(entries: readonly FunctionEntry[]): Map<QueueName, FunctionEntry> {
  const names = new Set<string>();
  const routes = new Set<string>();
  const consumers = new Map<QueueName, FunctionEntry>();
  for (const entry of entries) {
    if (names.has(entry.name)) throw new Error(`Function ${entry.name} is declared twice`);
    names.add(entry.name);
    const { trigger } = entry;
    if (trigger.kind === 'http') {
      const route = `${trigger.method} ${trigger.path}`;
      if (routes.has(route)) throw new Error(`Route ${route} is declared twice`);
      routes.add(route);
      checkCallers(entry.name, route, trigger.who, entry.access);
    }
    if (trigger.kind === 'queue') {
      const other = consumers.get(trigger.queue);
      // One visibility timeout per queue, and one place where a job's retries are decided.
      if (other) {
        throw new Error(`The ${trigger.queue} queue has two consumers: ${other.name} and ${entry.name}`);
      }
      consumers.set(trigger.queue, entry);
    }
  }
  return consumers;
}

/**
 * A route's callers need their access: a token is checked against the sign-outs (sessions
 * GetItem) with a key from the signing secret; a signed call needs the secret, and one that
 * changes state the replay guard (and only then: a token call has no nonce).
 */
function checkCallers(
  name: string,
  route: string,
  who: readonly string[],
  access: FunctionEntry['access'],
): void {
  if (who.length === 0) throw new Error(`${name} (${route}) names nobody who may call it`);
  if (who.includes('public') && who.length > 1) {
    throw new Error(`${name} (${route}) is public: naming other callers too means nothing`);
  }
  const tokens = who.some((caller) => caller === 'admin' || caller === 'user' || caller === 'self');
  if (tokens && !(access.signingSecret && access.sessions?.includes('GetItem'))) {
    throw new Error(`${name} (${route}) takes tokens: it needs signingSecret and sessions: ['GetItem']`);
  }
  const signed = who.includes('operator');
  if (signed && !access.signingSecret)
    throw new Error(`${name} (${route}) takes signed calls: it needs signingSecret`);
  const changes = !route.startsWith('GET ');
  if ((signed && changes) !== (access.replayGuard === true)) {
    throw new Error(
      `${name} (${route}): replayGuard is for routes that take signed calls that change state, and each of them needs it`,
    );
  }
}

/** Settings the edge or a function would refuse at start, refused at synth instead. */
function checkProps(props: {
  domains: readonly string[];
  expireAfter: string;
  deliveryTimeout: string;
  mwiPollInterval: string;
  deliveryBatchSize?: number;
  outboundProxy?: string;
  chat?: HoldoverProps['chat'];
}): void {
  if (props.domains.length === 0) throw new Error('domains must name at least one SIP domain');
  for (const [name, value] of [
    ['expireAfter', props.expireAfter],
    ['deliveryTimeout', props.deliveryTimeout],
    ['mwiPollInterval', props.mwiPollInterval],
    ['chat.idle', props.chat?.idle ?? SETTING_DEFAULTS.HOLDOVER_CHAT_IDLE],
    ['chat.lifetime', props.chat?.lifetime ?? SETTING_DEFAULTS.HOLDOVER_CHAT_LIFETIME],
    ['chat.retain', props.chat?.retain ?? SETTING_DEFAULTS.HOLDOVER_CHAT_RETAIN],
  ] as const) {
    try {
      parseDuration(value);
    } catch {
      throw new Error(`${name} must be a duration such as 30s, 72h or 7d, got "${value}"`);
    }
  }
  const { deliveryBatchSize } = props;
  if (
    deliveryBatchSize !== undefined &&
    !(Number.isInteger(deliveryBatchSize) && deliveryBatchSize >= 1 && deliveryBatchSize <= 100)
  ) {
    // 100: what the delivery function's five-minute timeout is sized for.
    throw new Error(`deliveryBatchSize must be a whole number from 1 to 100, got ${deliveryBatchSize}`);
  }
  if (props.outboundProxy !== undefined) {
    try {
      targetOfUri(props.outboundProxy);
    } catch (error) {
      throw new Error(
        `outboundProxy must be a SIP URI the edge can use: ${error instanceof Error ? error.message : String(error)}`,
      );
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

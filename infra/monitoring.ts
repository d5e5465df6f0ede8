// What an operator looks at and what wakes them: one CloudWatch dashboard and alarms to one SNS
// topic. Every alarm's description is the runbook line for it.
import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../functions/adapters/observability.ts';
import type { QueueName } from './catalogue.ts';
import type { QueueWithDlq } from './data.ts';
import type { HoldoverFunction } from './function.ts';

/**
 * The business metrics the functions emit (EMF, namespace `Holdover`, dimension
 * service=holdover): the contract between functions/ and this dashboard. Counts unless noted.
 */
export const BUSINESS_METRICS = {
  /** capture: a message stored (202). */
  captured: 'captured',
  /** capture: a retransmission or duplicate answered with the first copy's result. */
  duplicate: 'duplicate',
  /** capture: refused with a 4xx; extra dimension `reason` (quota, too-large, charset…). */
  refused: 'refused',
  /** every signed route: a bad or stale signature; extra dimension `route`. */
  unauthorized: 'unauthorized',
  /** every signed route, and the edge's /deliver (service holdover-edge): extra dimension `reason`. */
  signatureRefused: 'signatureRefused',
  /** delivery: the recipient's UA answered 2xx. */
  delivered: 'delivered',
  /** delivery: milliseconds from capture to the recipient's 2xx. */
  deliveryLatency: 'deliveryLatency',
  /** delivery: a permanent 4xx; the sender is told. */
  bounced: 'bounced',
  /** delivery: a notice (bounce, IMDN, auto-reply) answered 2xx, or failed for good. */
  noticeSent: 'noticeSent',
  noticeRefused: 'noticeRefused',
  /** delivery: a bounced message whose notice failed for good, kept as a dead letter. */
  deadLetters: 'deadLetters',
  /** presence: a presence change stored, and the delivery runs it queued. */
  presenceChanged: 'presenceChanged',
  deliveryRunsQueued: 'deliveryRunsQueued',
  /** sweeper: messages claimed for email (expired or vacation), and expiry-index entries read. */
  expired: 'expired',
  sweepIndexReads: 'sweepIndexReads',
  /** sweeper, every run: seconds the most overdue message waits past its expiry; 0 normally. */
  overdueSeconds: 'overdueSeconds',
  /** email: messages emailed in a digest, bounced to their sender, or dropped (user policy). */
  emailed: 'emailed',
  bouncedOnExpiry: 'bouncedOnExpiry',
  droppedOnExpiry: 'droppedOnExpiry',
} as const;

/** Metrics emitted with one dimension besides `service`, and its name. */
const DIMENSION_OF = { refused: 'reason', unauthorized: 'route', signatureRefused: 'reason' } as const;

export interface HoldoverMonitoringProps {
  readonly functions: readonly HoldoverFunction[];
  readonly queues: Readonly<Record<QueueName, QueueWithDlq>>;
  readonly api: apigwv2.HttpApi;
  /** Subscribed to the alarm topic when given (it must confirm the subscription email). */
  readonly alarmEmail?: string;
  /** Period of the sweeper: overdueSeconds arrives once per sweep, and two sweeps is the promise. */
  readonly sweepInterval: Duration;
  /** Alarm when more than this share of API calls answer 5xx (percent). */
  readonly api5xxPercent?: number;
}

interface AlarmOptions {
  threshold: number;
  description: string;
  evaluationPeriods?: number;
  datapointsToAlarm?: number;
  comparisonOperator?: cloudwatch.ComparisonOperator;
  treatMissingData?: cloudwatch.TreatMissingData;
  /** Also notify when the alarm has no data at all (a metric that should always arrive). */
  notifyInsufficientData?: boolean;
}

export class HoldoverMonitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: HoldoverMonitoringProps) {
    super(scope, id);
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Holdover alarms' });
    if (props.alarmEmail)
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const oneMinute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);
    // Labels only on dashboard lines: an alarm on a labelled metric becomes a metric-math alarm.
    const business = (name: string, statistic: string, period = oneMinute, label?: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { service: SERVICE_NAME },
        statistic,
        period,
        ...(label ? { label } : {}),
      });
    const perMinute = (names: string[]) =>
      names.map((name) => business(name, cloudwatch.Stats.SUM, oneMinute, name));
    // One line per value of the extra dimension, whichever values have been emitted.
    const byDimension = (name: keyof typeof DIMENSION_OF) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${DIMENSION_OF[name]},service} MetricName="${name}"', 'Sum', 300)`,
        usingMetrics: {},
        label: name,
        period: fiveMinutes,
      });
    const queueNames = Object.keys(props.queues) as QueueName[];
    const dlqDepth = (name: QueueName, label?: string) =>
      props.queues[name].deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: cloudwatch.Stats.MAXIMUM,
        period: oneMinute,
        ...(label ? { label } : {}),
      });
    const perFunction = (metric: (fn: HoldoverFunction) => cloudwatch.IMetric) => props.functions.map(metric);

    // Alarms ---------------------------------------------------------------------------------
    for (const name of queueNames) {
      this.alarm(`${name}DeadLetters`, dlqDepth(name), {
        threshold: 1,
        description:
          `Messages in the ${name} DLQ failed every retry. Read one (aws sqs receive-message on the DLQ), ` +
          `find its job in the ${name === 'delivery' ? 'delivery' : 'email'} function's logs (sqsMessageId), fix the cause, ` +
          'then redrive with aws sqs start-message-move-task --source-arn <DLQ ARN>. Held messages stay held meanwhile.',
      });
    }
    for (const fn of props.functions) {
      this.alarm(`${fn.entryName}Errors`, fn.metricErrors({ period: fiveMinutes }), {
        threshold: 1,
        description:
          `The ${fn.entryName} function crashed or timed out. Open its log group, filter on level ERROR or ` +
          '"Task timed out", and follow the correlation id; roll back the last deploy if it started then.',
      });
      this.alarm(`${fn.entryName}Throttles`, fn.metricThrottles({ period: fiveMinutes }), {
        threshold: 1,
        description:
          `The ${fn.entryName} function was throttled: the account's Lambda concurrency is exhausted. ` +
          'Check which function holds it (ConcurrentExecutions), then raise the account quota or add reserved concurrency.',
      });
    }
    const apiCalls = props.api.metricCount({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM });
    const api5xx = props.api.metricServerError({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM });
    const api5xxPercent = props.api5xxPercent ?? 1;
    this.alarm(
      'Api5xxRate',
      new cloudwatch.MathExpression({
        // Below 20 calls in five minutes one failure is noise, not a rate.
        expression: 'IF(calls >= 20, 100 * failures / calls, 0)',
        usingMetrics: { calls: apiCalls, failures: api5xx },
        period: fiveMinutes,
        label: 'API 5xx %',
      }),
      {
        threshold: api5xxPercent,
        evaluationPeriods: 2,
        description:
          `More than ${api5xxPercent}% of API calls answer 5xx: the edge is answering 503 to senders. ` +
          'Check the function Errors alarms and logs (correlationId), then DynamoDB throttling and Secrets Manager access.',
      },
    );
    // docs/design.md "Message lifecycle": a pending message is handed to email within two sweep intervals of its expiry.
    const overdueLimit = 2 * props.sweepInterval.toSeconds();
    this.alarm(
      'EmailOverdue',
      business(BUSINESS_METRICS.overdueSeconds, cloudwatch.Stats.MAXIMUM, props.sweepInterval),
      {
        threshold: overdueLimit,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        // Every sweep reports, 0 when all is well: no data at all means no sweep ran.
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
        notifyInsufficientData: true,
        description:
          `ALARM: a message has waited more than ${overdueLimit} s past its expiry without being emailed. ` +
          'Check the sweeper (Errors alarm, logs) and the expired queue: its DLQ, and the email function ' +
          '(SES AccessDenied in the sandbox, throttling, identity not verified). A message left in state ' +
          '"delivering" by a delivery run that died is not claimed either: npx holdover held <aor> shows it. ' +
          'INSUFFICIENT_DATA: no sweep has reported for minutes: check that the sweeper schedule rule is enabled.',
      },
    );

    // Dashboard ------------------------------------------------------------------------------
    const graph = (
      title: string,
      left: cloudwatch.IMetric[],
      options: { width?: number; right?: cloudwatch.IMetric[]; annotation?: number } = {},
    ) =>
      new cloudwatch.GraphWidget({
        title,
        left,
        width: options.width ?? 12,
        height: 6,
        ...(options.right ? { right: options.right } : {}),
        ...(options.annotation !== undefined
          ? { leftAnnotations: [{ value: options.annotation, label: 'alarm' }] }
          : {}),
      });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          graph(
            'Messages per minute',
            perMinute([
              BUSINESS_METRICS.captured,
              BUSINESS_METRICS.delivered,
              BUSINESS_METRICS.expired,
              BUSINESS_METRICS.emailed,
            ]),
          ),
          graph('Delivery latency, capture to 2xx (ms)', [
            business(BUSINESS_METRICS.deliveryLatency, cloudwatch.Stats.p(50), oneMinute, 'p50'),
            business(BUSINESS_METRICS.deliveryLatency, cloudwatch.Stats.p(99), oneMinute, 'p99'),
          ]),
        ],
        [
          graph(
            'Email overdue: most overdue message past its expiry (s)',
            [
              business(
                BUSINESS_METRICS.overdueSeconds,
                cloudwatch.Stats.MAXIMUM,
                props.sweepInterval,
                'overdue',
              ),
            ],
            {
              right: [
                business(BUSINESS_METRICS.sweepIndexReads, cloudwatch.Stats.SUM, oneMinute, 'index reads'),
              ],
              annotation: overdueLimit,
            },
          ),
          graph(
            'Dead-letter queue depth',
            queueNames.map((name) => dlqDepth(name, `${name} DLQ`)),
          ),
        ],
        [
          graph(
            'Function errors',
            perFunction((fn) => fn.metricErrors({ period: fiveMinutes, label: fn.entryName })),
            { width: 8 },
          ),
          graph(
            'Function throttles',
            perFunction((fn) => fn.metricThrottles({ period: fiveMinutes, label: fn.entryName })),
            { width: 8 },
          ),
          graph(
            'Function duration p99 (ms)',
            perFunction((fn) =>
              fn.metricDuration({
                period: fiveMinutes,
                statistic: cloudwatch.Stats.p(99),
                label: fn.entryName,
              }),
            ),
            { width: 8 },
          ),
        ],
        [
          graph('API responses', [
            props.api.metricClientError({
              period: fiveMinutes,
              statistic: cloudwatch.Stats.SUM,
              label: '4xx',
            }),
            props.api.metricServerError({
              period: fiveMinutes,
              statistic: cloudwatch.Stats.SUM,
              label: '5xx',
            }),
            props.api.metricCount({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM, label: 'calls' }),
          ]),
          graph(
            'Other outcomes per minute',
            perMinute([
              BUSINESS_METRICS.duplicate,
              BUSINESS_METRICS.bounced,
              BUSINESS_METRICS.noticeSent,
              BUSINESS_METRICS.noticeRefused,
              BUSINESS_METRICS.deadLetters,
              BUSINESS_METRICS.presenceChanged,
              BUSINESS_METRICS.deliveryRunsQueued,
              BUSINESS_METRICS.bouncedOnExpiry,
              BUSINESS_METRICS.droppedOnExpiry,
            ]),
          ),
        ],
        [
          graph('Refused by reason (per 5 min)', [byDimension('refused')], { width: 6 }),
          graph('Bad signatures by route (per 5 min)', [byDimension('unauthorized')], { width: 6 }),
          graph('Refused signatures by reason, API and edge (per 5 min)', [byDimension('signatureRefused')], {
            width: 6,
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 6, height: 6 }),
        ],
      ],
    });
  }

  private alarm(id: string, metric: cloudwatch.IMetric, options: AlarmOptions): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      ...(options.datapointsToAlarm ? { datapointsToAlarm: options.datapointsToAlarm } : {}),
      comparisonOperator:
        options.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // By default no data means nothing happened (no dead letters, no errors), not trouble.
      treatMissingData: options.treatMissingData ?? cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    const topic = new actions.SnsAction(this.alarmTopic);
    alarm.addAlarmAction(topic);
    alarm.addOkAction(topic);
    if (options.notifyInsufficientData) alarm.addInsufficientDataAction(topic);
    this.alarms.push(alarm);
  }
}

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
 * The business metrics (EMF, namespace `Holdover`, dimension service=holdover) the dashboard and
 * alarms read. `captured` is emitted by functions/capture.ts today; the others are the names the
 * delivery, sweeper and email functions must emit.
 */
export const BUSINESS_METRICS = {
  captured: 'captured',
  delivered: 'delivered',
  expired: 'expired',
  emailed: 'emailed',
  /** Milliseconds from capture to the recipient's 2xx. */
  deliveryLatency: 'deliveryLatency',
  /** Seconds since the oldest still-pending message was received; emitted by each sweep. */
  oldestHeldAge: 'oldestHeldAge',
} as const;

export interface HoldoverMonitoringProps {
  readonly functions: readonly HoldoverFunction[];
  readonly queues: Readonly<Record<QueueName, QueueWithDlq>>;
  readonly api: apigwv2.HttpApi;
  /** Subscribed to the alarm topic when given (it must confirm the subscription email). */
  readonly alarmEmail?: string;
  /** A held message older than this means expiry to email is stuck. */
  readonly oldestHeldAlarmAge: Duration;
  /** Alarm when more than this share of API calls answer 5xx (percent). */
  readonly api5xxPercent?: number;
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

    // Labels only on dashboard lines: an alarm on a labelled metric becomes a metric-math alarm.
    const business = (name: string, statistic: string, period = Duration.minutes(1), label?: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { service: SERVICE_NAME },
        statistic,
        period,
        ...(label ? { label } : {}),
      });
    const queueNames = Object.keys(props.queues) as QueueName[];
    const dlqDepth = (name: QueueName, label?: string) =>
      props.queues[name].deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(1),
        ...(label ? { label } : {}),
      });
    const perFunction = (metric: (fn: HoldoverFunction) => cloudwatch.IMetric) => props.functions.map(metric);
    const fiveMinutes = Duration.minutes(5);

    // Alarms ---------------------------------------------------------------------------------
    for (const name of queueNames) {
      this.alarm(`${name}DeadLetters`, dlqDepth(name), {
        threshold: 1,
        description:
          `Messages in the ${name} DLQ failed every retry. Read one (aws sqs receive-message on the DLQ), ` +
          `find its message id in the ${name === 'delivery' ? 'delivery' : 'email'} function's logs, fix the cause, ` +
          'then redrive with aws sqs start-message-move-task --source-arn <DLQ ARN>.',
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
    this.alarm(
      'OldestHeldTooOld',
      business(BUSINESS_METRICS.oldestHeldAge, cloudwatch.Stats.MAXIMUM, fiveMinutes),
      {
        threshold: props.oldestHeldAlarmAge.toSeconds(),
        description:
          `A message has been held longer than ${props.oldestHeldAlarmAge.toHumanString()}: expiry to email is stuck. ` +
          'Check that the sweeper schedule is enabled and its function succeeds, then the expired DLQ and the email ' +
          'function (SES sending quota, identity verified). A user with a longer expire-after also trips this.',
      },
    );

    // Dashboard ------------------------------------------------------------------------------
    const graph = (title: string, left: cloudwatch.IMetric[], width = 12) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          graph(
            'Messages per minute',
            [
              BUSINESS_METRICS.captured,
              BUSINESS_METRICS.delivered,
              BUSINESS_METRICS.expired,
              BUSINESS_METRICS.emailed,
            ].map((name) => business(name, cloudwatch.Stats.SUM, Duration.minutes(1), name)),
          ),
          graph('Delivery latency (ms)', [
            business(BUSINESS_METRICS.deliveryLatency, cloudwatch.Stats.p(50), Duration.minutes(1), 'p50'),
            business(BUSINESS_METRICS.deliveryLatency, cloudwatch.Stats.p(99), Duration.minutes(1), 'p99'),
          ]),
        ],
        [
          graph('Age of the oldest held message (s)', [
            business(BUSINESS_METRICS.oldestHeldAge, cloudwatch.Stats.MAXIMUM, fiveMinutes, 'oldest held'),
          ]),
          graph(
            'Dead-letter queue depth',
            queueNames.map((name) => dlqDepth(name, `${name} DLQ`)),
          ),
        ],
        [
          graph(
            'Function errors',
            perFunction((fn) => fn.metricErrors({ period: fiveMinutes, label: fn.entryName })),
            8,
          ),
          graph(
            'Function throttles',
            perFunction((fn) => fn.metricThrottles({ period: fiveMinutes, label: fn.entryName })),
            8,
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
            8,
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
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 12, height: 6 }),
        ],
      ],
    });
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    options: { threshold: number; description: string; evaluationPeriods?: number },
  ): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means nothing happened (no dead letters, no errors, no sweep yet), not trouble.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
    alarm.addOkAction(new actions.SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
  }
}

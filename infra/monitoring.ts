// What an operator looks at and what wakes them: one CloudWatch dashboard and alarms to one SNS
// topic. Every alarm's description is the runbook line for it.
import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import {
  BUSINESS_METRICS,
  DIMENSION_OF,
  EDGE_METRICS,
  EDGE_SERVICE,
  FUNCTIONS_SERVICE,
  METRICS_NAMESPACE,
  type SipAuthThrottleReason,
} from '../shared/metric-names.ts';
import type { QueueName } from './catalogue.ts';
import type { QueueWithDlq } from './data.ts';
import type { HoldoverFunction } from './function.ts';

// The metric names are declared once (shared/metric-names.ts), read by what emits them and by this.
export { BUSINESS_METRICS, EDGE_METRICS };

/** The edge's service and load balancer, watched from outside the process. */
export interface WatchedEdge {
  readonly service: ecs.FargateService;
  readonly targetGroup: elbv2.NetworkTargetGroup;
}

export interface HoldoverMonitoringProps {
  readonly functions: readonly HoldoverFunction[];
  readonly queues: Readonly<Record<QueueName, QueueWithDlq>>;
  readonly api: apigwv2.HttpApi;
  /** The SIP edge: its tasks, its load balancer's view of them, and its own EMF metrics. */
  readonly edge?: WatchedEdge;
  /** Alarm when the edge sheds at least this many MESSAGEs (503 at once) in five minutes. */
  readonly edgeShedThreshold?: number;
  /** Alarm when at least this many of the edge's calls to the API fail in five minutes. */
  readonly edgeApiFailureThreshold?: number;
  /** Alarm when at least this many digest attempts are refused as throttled in five minutes. */
  readonly edgeAuthThrottledThreshold?: number;
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
        dimensionsMap: { service: FUNCTIONS_SERVICE },
        statistic,
        period,
        ...(label ? { label } : {}),
      });
    const perMinute = (names: string[]) =>
      names.map((name) => business(name, cloudwatch.Stats.SUM, oneMinute, name));
    // One line per value of the extra dimension, whichever values have been emitted.
    const byDimension = (name: keyof typeof DIMENSION_OF, period = fiveMinutes) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},${DIMENSION_OF[name]},service} MetricName="${name}"', 'Sum', ${period.toSeconds()})`,
        usingMetrics: {},
        label: name,
        period,
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

    // The edge: its tasks (Container Insights), the load balancer's view of them, its own metrics.
    const edgeMetric = (name: string, statistic: string, period = oneMinute, label?: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { service: EDGE_SERVICE },
        statistic,
        period,
        ...(label ? { label } : {}),
      });
    const edge = props.edge;
    const taskCount = (name: 'RunningTaskCount' | 'DesiredTaskCount', statistic: string, label?: string) =>
      edge
        ? new cloudwatch.Metric({
            namespace: 'ECS/ContainerInsights',
            metricName: name,
            dimensionsMap: {
              ClusterName: edge.service.cluster.clusterName,
              ServiceName: edge.service.serviceName,
            },
            statistic,
            period: oneMinute,
            ...(label ? { label } : {}),
          })
        : undefined;
    const edgeShedThreshold = props.edgeShedThreshold ?? 10;
    const edgeApiFailureThreshold = props.edgeApiFailureThreshold ?? 5;
    const edgeAuthThrottledThreshold = props.edgeAuthThrottledThreshold ?? 50;
    if (edge) {
      const running = taskCount('RunningTaskCount', cloudwatch.Stats.MINIMUM);
      const desired = taskCount('DesiredTaskCount', cloudwatch.Stats.MAXIMUM);
      if (running && desired) {
        this.alarm(
          'EdgeTasksBelowDesired',
          new cloudwatch.MathExpression({
            expression: 'desired - running',
            usingMetrics: { running, desired },
            period: oneMinute,
            label: 'edge tasks missing',
          }),
          {
            threshold: 1,
            // A task replaced in a deployment or after a crash is back within a few minutes.
            evaluationPeriods: 5,
            datapointsToAlarm: 5,
            description:
              'Fewer SIP edge tasks run than desired for 5 minutes: MESSAGEs to absent users may go unanswered. ' +
              'Open the ECS service (Events tab: failed health checks, image pull or Secrets Manager errors) and the ' +
              "edge's log group (level ERROR); roll back the last deploy if it started then.",
          },
        );
      }
      this.alarm(
        'EdgeUnhealthyHosts',
        edge.targetGroup.metricUnHealthyHostCount({ statistic: cloudwatch.Stats.MAXIMUM, period: oneMinute }),
        {
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 3,
          description:
            'The SIP load balancer finds an edge task unhealthy (GET /health on the HTTP port fails) for 3 minutes. ' +
            "Check the task's log group and the ECS service events; ECS replaces a task that stays unhealthy.",
        },
      );
      this.alarm('EdgeShedding', edgeMetric(EDGE_METRICS.shed, cloudwatch.Stats.SUM, fiveMinutes), {
        threshold: edgeShedThreshold,
        description:
          `The SIP edge answered ${edgeShedThreshold}+ MESSAGEs in 5 minutes with 503 at once, too many captures in flight: ` +
          'senders retry, but capture is slower than the traffic. Check the capture function (Duration, Throttles) and ' +
          'DynamoDB throttling; raise the edge task count (edgeTasks) if the API keeps up.',
      });
      this.alarm('EdgeApiFailures', edgeMetric(EDGE_METRICS.apiFailures, cloudwatch.Stats.SUM, fiveMinutes), {
        threshold: edgeApiFailureThreshold,
        description:
          `${edgeApiFailureThreshold}+ of the edge's calls to the API failed in 5 minutes (unreachable, timed out, or 5xx): ` +
          'senders get 503. Check the Api5xxRate and function Errors alarms; if the API is healthy, check the ' +
          'edge\'s route to it (its log group: "API at … unreachable").',
      });
      // Both reasons summed: an alarm cannot SEARCH, so each dimension value is named.
      const throttled = (reason: SipAuthThrottleReason) =>
        new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: EDGE_METRICS.sipAuthThrottled,
          dimensionsMap: { service: EDGE_SERVICE, [DIMENSION_OF.sipAuthThrottled]: reason },
          statistic: cloudwatch.Stats.SUM,
          period: fiveMinutes,
        });
      this.alarm(
        'EdgeSipAuthThrottled',
        new cloudwatch.MathExpression({
          expression: 'FILL(aor, 0) + FILL(source, 0)',
          usingMetrics: { aor: throttled('aor'), source: throttled('source') },
          period: fiveMinutes,
          label: 'throttled digest attempts',
        }),
        {
          threshold: edgeAuthThrottledThreshold,
          description:
            `The SIP edge refused ${edgeAuthThrottledThreshold}+ digest attempts in 5 minutes after too many wrong ` +
            'passwords (503, HOLDOVER_SIP_AUTH_*): someone is guessing SIP passwords, or a phone keeps a stale one. ' +
            'The edge\'s log group names the AOR and source ("sip digest attempts throttled"); block a hostile ' +
            "source in the edge's security group or a network ACL, or have the user fix the phone's password.",
        },
      );
    }

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
        ...(edge
          ? [
              [
                graph('Edge SIP requests by method (per minute)', [byDimension('sipRequests', oneMinute)], {
                  width: 8,
                }),
                graph('Edge SIP answers by class (per minute)', [byDimension('sipAnswers', oneMinute)], {
                  width: 8,
                }),
                graph(
                  'Edge captures in flight (peak) and shed',
                  [
                    edgeMetric(
                      EDGE_METRICS.capturesInFlight,
                      cloudwatch.Stats.MAXIMUM,
                      oneMinute,
                      'in flight',
                    ),
                  ],
                  {
                    width: 8,
                    right: [
                      edgeMetric(EDGE_METRICS.shed, cloudwatch.Stats.SUM, oneMinute, 'shed'),
                      edgeMetric(EDGE_METRICS.apiFailures, cloudwatch.Stats.SUM, oneMinute, 'API failures'),
                    ],
                  },
                ),
              ],
              [
                graph('Edge deliveries by outcome (per minute)', [byDimension('deliveries', oneMinute)], {
                  width: 8,
                }),
                graph(
                  'Edge delivery SIP round trip (ms)',
                  [
                    edgeMetric(EDGE_METRICS.deliveryRoundTrip, cloudwatch.Stats.p(50), oneMinute, 'p50'),
                    edgeMetric(EDGE_METRICS.deliveryRoundTrip, cloudwatch.Stats.p(99), oneMinute, 'p99'),
                  ],
                  { width: 8 },
                ),
                graph(
                  'Edge tasks, hosts and digest auth',
                  [
                    taskCount('RunningTaskCount', cloudwatch.Stats.MINIMUM, 'running tasks'),
                    taskCount('DesiredTaskCount', cloudwatch.Stats.MAXIMUM, 'desired tasks'),
                    edge.targetGroup.metricHealthyHostCount({
                      statistic: cloudwatch.Stats.MINIMUM,
                      period: oneMinute,
                      label: 'healthy hosts',
                    }),
                    edge.targetGroup.metricUnHealthyHostCount({
                      statistic: cloudwatch.Stats.MAXIMUM,
                      period: oneMinute,
                      label: 'unhealthy hosts',
                    }),
                  ].filter((metric) => metric !== undefined),
                  {
                    width: 8,
                    right: [
                      edgeMetric(
                        EDGE_METRICS.authChallenges,
                        cloudwatch.Stats.SUM,
                        oneMinute,
                        '401 challenges',
                      ),
                      edgeMetric(EDGE_METRICS.authRefusals, cloudwatch.Stats.SUM, oneMinute, '403 refusals'),
                      byDimension('sipAuthThrottled', oneMinute),
                    ],
                  },
                ),
              ],
            ]
          : []),
        [
          graph('Refused by reason (per 5 min)', [byDimension('refused')], { width: 6 }),
          graph('Bad signatures by route (per 5 min)', [byDimension('unauthorized')], { width: 6 }),
          graph('Refused signatures by reason, API and edge (per 5 min)', [byDimension('signatureRefused')], {
            width: 6,
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 6, height: 6 }),
        ],
        [
          graph('Alerts from email received (per minute)', perMinute([BUSINESS_METRICS.alertsReceived]), {
            width: 8,
          }),
          graph('Alerts refused by reason (per 5 min)', [byDimension('alertsRefused')], { width: 8 }),
          graph("Alert copies by member's outcome (per 5 min)", [byDimension('alertsDispatched')], {
            width: 8,
          }),
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

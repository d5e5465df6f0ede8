// The one module that owns logging and metrics (Powertools). Every log line about a message
// carries its id and Call-ID; bodies are personal data and are never logged.
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';

import {
  type BusinessMetric,
  DIMENSION_OF,
  type DimensionedMetric,
  FUNCTIONS_SERVICE,
  METRICS_NAMESPACE,
} from '../../shared/metric-names.ts';

export { METRICS_NAMESPACE };
export const SERVICE_NAME = FUNCTIONS_SERVICE;

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

/**
 * Adds `value` to a business metric of this invocation (its EMF document is written when the
 * handler ends): only the names declared in shared/metric-names.ts, which infra/monitoring.ts's
 * dashboard and alarms read.
 */
export function count(name: BusinessMetric, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

/** A measured business metric: a latency in milliseconds, an overdue time in seconds. */
export function measure(
  name: Extract<BusinessMetric, 'deliveryLatency' | 'overdueSeconds'>,
  value: number,
): void {
  metrics.addMetric(name, name === 'deliveryLatency' ? MetricUnit.Milliseconds : MetricUnit.Seconds, value);
}

/** Counts an event with its one dimension (DIMENSION_OF: refused by reason…), apart from the shared set. */
export function countWithDimension(name: Extract<BusinessMetric, DimensionedMetric>, value: string): void {
  const single = metrics.singleMetric();
  single.addDimension(DIMENSION_OF[name], value);
  single.addMetric(name, MetricUnit.Count, 1);
}

/**
 * Starts an invocation's logging (Powertools' injectLambdaContext, without middy): every line of
 * it carries the Lambda context (`function_request_id`, `cold_start`, the function's name and
 * memory) and `correlation_id`, which is returned. The correlation id is `requestId` when given
 * (an HTTP call's API Gateway request id, which API Gateway also answers in `apigw-requestid`),
 * else the Lambda request id. The local runtime passes no context: then only the correlation id.
 */
export function startInvocation(context: Context | undefined, requestId?: string): string {
  logger.resetKeys();
  if (context) logger.addContext(context);
  const correlationId = requestId ?? context?.awsRequestId ?? randomUUID();
  logger.setCorrelationId(correlationId);
  return correlationId;
}

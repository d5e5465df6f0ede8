// The one module that owns logging and metrics (Powertools). Every log line about a message
// carries its id and Call-ID; bodies are personal data and are never logged.
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';

import { FUNCTIONS_SERVICE, METRICS_NAMESPACE } from '../../shared/metric-names.ts';

export { METRICS_NAMESPACE };
export const SERVICE_NAME = FUNCTIONS_SERVICE;

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

export { MetricUnit };

/** Counts an event with one dimension (e.g. refused by reason) without touching the shared set. */
export function countWithDimension(name: string, dimension: string, value: string): void {
  const single = metrics.singleMetric();
  single.addDimension(dimension, value);
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

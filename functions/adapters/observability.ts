// The one module that owns logging and metrics (Powertools). Every log line about a message
// carries its id and Call-ID; bodies are personal data and are never logged.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

import { FUNCTIONS_SERVICE, METRICS_NAMESPACE } from '../core/metric-names.ts';

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

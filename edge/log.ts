// Structured JSON logs for the edge process (the same Powertools Logger the functions use), and
// its few metrics in CloudWatch Embedded Metric Format on stdout (the task's log group).
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const logger = new Logger({ serviceName: 'holdover-edge' });
const metrics = new Metrics({ namespace: 'Holdover', serviceName: 'holdover-edge' });

/** Counts an event with one dimension (e.g. a refused signature by reason), published at once. */
export function countWithDimension(name: string, dimension: string, value: string): void {
  const single = metrics.singleMetric();
  single.addDimension(dimension, value);
  single.addMetric(name, MetricUnit.Count, 1);
}

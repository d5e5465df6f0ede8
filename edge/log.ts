// Structured JSON logs for the edge process (the same Powertools Logger the functions use), and
// its metrics in CloudWatch Embedded Metric Format on stdout. The edge is one long-running process
// handling many requests a second, so it does not write a line per event: it adds up counts,
// the peak of captures in flight and the round-trip times in memory and writes them once a
// minute (`flush`). In Fargate the awslogs driver puts stdout into the task's log group with
// PutLogEvents, and CloudWatch Logs extracts EMF from any such event: no agent is needed.
// Log lines carry the Call-ID and never a body (STYLE.md §7).
import { Logger } from '@aws-lambda-powertools/logger';
import {
  DIMENSION_OF,
  type DimensionedMetric,
  deliveryOutcomeClass,
  EDGE_METRICS,
  EDGE_SERVICE,
  type EdgeMetric,
  METRICS_NAMESPACE,
} from '../shared/metric-names.ts';

export const logger = new Logger({ serviceName: EDGE_SERVICE });

/** The edge's counts without an extra dimension. */
export type EdgeCount = Extract<EdgeMetric, 'shed' | 'authChallenges' | 'authRefusals' | 'apiFailures'>;
/** The edge's counts with one extra dimension (DIMENSION_OF names it). */
export type EdgeCountBy = Extract<EdgeMetric, DimensionedMetric>;

/** CloudWatch takes at most 100 values of one metric in one EMF document. */
const MAX_VALUES_PER_LINE = 100;

export class EdgeMetrics {
  private counts = new Map<EdgeCount, number>();
  private countsBy = new Map<string, { name: EdgeCountBy; value: string; count: number }>();
  private roundTrips: number[] = [];
  private inFlightNow = 0;
  private inFlightPeak = 0;

  constructor(
    private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
    private readonly now: () => number = Date.now,
  ) {}

  count(name: EdgeCount, by = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + by);
  }

  countBy(name: EdgeCountBy, value: string): void {
    const key = `${name}\0${value}`;
    const entry = this.countsBy.get(key);
    if (entry) entry.count++;
    else this.countsBy.set(key, { name, value, count: 1 });
  }

  /** A SIP request the edge handles (a new server transaction). */
  request(method: string): void {
    this.countBy(EDGE_METRICS.sipRequests, method);
  }

  /** The final answer to it: by class, and 401/403 as digest challenges and refusals. */
  answer(status: number): void {
    this.countBy(EDGE_METRICS.sipAnswers, `${Math.floor(status / 100)}xx`);
    if (status === 401) this.count(EDGE_METRICS.authChallenges);
    if (status === 403) this.count(EDGE_METRICS.authRefusals);
  }

  /** The number of capture calls in flight just changed to `current`. */
  capturesInFlight(current: number): void {
    this.inFlightNow = current;
    if (current > this.inFlightPeak) this.inFlightPeak = current;
  }

  /** A delivered MESSAGE's final status and how long it took. */
  delivery(status: number, roundTripMs: number): void {
    this.countBy(EDGE_METRICS.deliveries, deliveryOutcomeClass(status));
    this.roundTrips.push(Math.max(0, Math.round(roundTripMs)));
  }

  /** Writes what was counted since the last flush as EMF lines, then starts afresh. */
  flush(): void {
    const timestamp = this.now();
    const plain: Array<{ name: EdgeMetric; unit: string; value: number | number[] }> = [];
    for (const [name, count] of this.counts) plain.push({ name, unit: 'Count', value: count });
    if (this.inFlightPeak > 0 || plain.length > 0 || this.countsBy.size > 0) {
      plain.push({ name: EDGE_METRICS.capturesInFlight, unit: 'Count', value: this.inFlightPeak });
    }
    const chunks: number[][] = [];
    for (let start = 0; start < this.roundTrips.length; start += MAX_VALUES_PER_LINE) {
      chunks.push(this.roundTrips.slice(start, start + MAX_VALUES_PER_LINE));
    }
    const roundTrip = (value: number[]) => ({
      name: EDGE_METRICS.deliveryRoundTrip,
      unit: 'Milliseconds',
      value,
    });
    const [firstChunk, ...moreChunks] = chunks;
    const first = firstChunk ? [...plain, roundTrip(firstChunk)] : plain;
    if (first.length > 0) this.write(emfLine(timestamp, [], first));
    for (const chunk of moreChunks) this.write(emfLine(timestamp, [], [roundTrip(chunk)]));
    for (const { name, value, count } of this.countsBy.values()) {
      this.write(emfLine(timestamp, [[DIMENSION_OF[name], value]], [{ name, unit: 'Count', value: count }]));
    }
    this.counts = new Map();
    this.countsBy = new Map();
    this.roundTrips = [];
    this.inFlightPeak = this.inFlightNow;
  }
}

function emfLine(
  timestamp: number,
  dimensions: Array<[string, string]>,
  metrics: Array<{ name: string; unit: string; value: number | number[] }>,
): string {
  const document: Record<string, unknown> = {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [['service', ...dimensions.map(([name]) => name)]],
          Metrics: metrics.map(({ name, unit }) => ({ Name: name, Unit: unit })),
        },
      ],
    },
    service: EDGE_SERVICE,
  };
  for (const [name, value] of dimensions) document[name] = value;
  for (const { name, value } of metrics) document[name] = value;
  return JSON.stringify(document);
}

/** The edge process's metrics; `startEdge` flushes them every minute and at stop. */
export const metrics = new EdgeMetrics();

/** How often the edge writes its metrics. */
export const METRICS_FLUSH_MS = 60_000;

/** Counts a refused signature by reason (the name the functions use too). */
export function countWithDimension(
  name: typeof EDGE_METRICS.signatureRefused,
  _dimension: 'reason',
  value: string,
): void {
  metrics.countBy(name, value);
}

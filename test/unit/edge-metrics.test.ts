// The edge's metrics (edge/log.ts): counts, the peak of captures in flight and round-trip times
// added up in memory and written once per flush as CloudWatch EMF documents, one per dimension set.
import { describe, expect, it } from 'vitest';
import { EdgeMetrics } from '../../edge/log.ts';
import { EDGE_METRICS, EDGE_SERVICE, METRICS_NAMESPACE } from '../../shared/metric-names.ts';

interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

function recorder() {
  const lines: EmfDocument[] = [];
  const metrics = new EdgeMetrics(
    (line) => lines.push(JSON.parse(line) as EmfDocument),
    () => 1_700_000_000_000,
  );
  return { lines, metrics };
}

/** Every metric a document declares has its value at the top level, as EMF requires. */
function expectValidEmf(document: EmfDocument): void {
  const [directive] = document._aws.CloudWatchMetrics;
  expect(directive?.Namespace).toBe(METRICS_NAMESPACE);
  for (const dimension of directive?.Dimensions.flat() ?? [])
    expect(document[dimension]).toBeTypeOf('string');
  for (const metric of directive?.Metrics ?? []) expect(document[metric.Name]).toBeDefined();
  expect(document.service).toBe(EDGE_SERVICE);
}

describe('edge metrics', () => {
  it('writes nothing when nothing happened', () => {
    const { lines, metrics } = recorder();
    metrics.flush();
    expect(lines).toEqual([]);
  });

  it('adds up requests by method and answers by status class, one document per dimension value', () => {
    const { lines, metrics } = recorder();
    for (const method of ['MESSAGE', 'MESSAGE', 'REGISTER']) metrics.request(method);
    for (const status of [202, 202, 401, 403, 503]) metrics.answer(status);
    metrics.flush();
    lines.forEach(expectValidEmf);
    const by = (name: string, dimension: string, value: string) =>
      lines.find((line) => dimension in line && line[dimension] === value && name in line)?.[name];
    expect(by(EDGE_METRICS.sipRequests, 'method', 'MESSAGE')).toBe(2);
    expect(by(EDGE_METRICS.sipRequests, 'method', 'REGISTER')).toBe(1);
    expect(by(EDGE_METRICS.sipAnswers, 'statusClass', '2xx')).toBe(2);
    expect(by(EDGE_METRICS.sipAnswers, 'statusClass', '4xx')).toBe(2);
    expect(by(EDGE_METRICS.sipAnswers, 'statusClass', '5xx')).toBe(1);
    const plain = lines.find((line) => line._aws.CloudWatchMetrics[0]?.Dimensions[0]?.length === 1);
    expect(plain?.[EDGE_METRICS.authChallenges]).toBe(1);
    expect(plain?.[EDGE_METRICS.authRefusals]).toBe(1);
    // counted once: the next flush starts afresh
    lines.length = 0;
    metrics.flush();
    expect(lines).toEqual([]);
  });

  it('reports the peak of captures in flight, carrying what is still in flight into the next minute', () => {
    const { lines, metrics } = recorder();
    metrics.capturesInFlight(1);
    metrics.capturesInFlight(3);
    metrics.capturesInFlight(2);
    metrics.count('shed');
    metrics.flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.[EDGE_METRICS.capturesInFlight]).toBe(3);
    expect(lines[0]?.[EDGE_METRICS.shed]).toBe(1);
    lines.length = 0;
    metrics.flush();
    expect(lines[0]?.[EDGE_METRICS.capturesInFlight]).toBe(2);
  });

  it('classes delivery outcomes and keeps every round trip, at most 100 values per document', () => {
    const { lines, metrics } = recorder();
    for (let i = 0; i < 150; i++) metrics.delivery(200, i);
    metrics.delivery(480, 32_000);
    metrics.delivery(486, 12);
    metrics.flush();
    lines.forEach(expectValidEmf);
    const roundTrips = lines.flatMap((line) => (line[EDGE_METRICS.deliveryRoundTrip] as number[]) ?? []);
    expect(roundTrips).toHaveLength(152);
    for (const line of lines) {
      const values = line[EDGE_METRICS.deliveryRoundTrip];
      if (Array.isArray(values)) expect(values.length).toBeLessThanOrEqual(100);
    }
    const outcome = (value: string) =>
      lines.find((line) => line.outcome === value)?.[EDGE_METRICS.deliveries];
    expect(outcome('delivered')).toBe(150);
    expect(outcome('stopped')).toBe(1);
    expect(outcome('refused')).toBe(1);
    const unit = lines
      .flatMap((line) => line._aws.CloudWatchMetrics[0]?.Metrics ?? [])
      .find((metric) => metric.Name === EDGE_METRICS.deliveryRoundTrip)?.Unit;
    expect(unit).toBe('Milliseconds');
  });
});

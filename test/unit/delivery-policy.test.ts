// The one rule for a delivered MESSAGE's final status, read by the edge (endsBatch, its metrics)
// and by the functions (the delivery run's verdict, notices).
import { describe, expect, it } from 'vitest';
import { endsBatch } from '../../edge/delivery.ts';
import { classifyFinal } from '../../shared/contract/delivery.ts';
import { deliveryOutcomeClass } from '../../shared/metric-names.ts';

const STATUSES = [200, 202, 299, 300, 400, 404, 408, 480, 481, 486, 500, 503, 599, 600, 603, 606];

describe('classifyFinal', () => {
  it('2xx delivered, 408/480 away, 5xx retry, the rest bounce', () => {
    expect(Object.fromEntries(STATUSES.map((status) => [status, classifyFinal(status)]))).toEqual({
      200: 'delivered',
      202: 'delivered',
      299: 'delivered',
      300: 'bounce',
      400: 'bounce',
      404: 'bounce',
      408: 'away',
      480: 'away',
      481: 'bounce',
      486: 'bounce',
      500: 'retry',
      503: 'retry',
      599: 'retry',
      600: 'bounce',
      603: 'bounce',
      606: 'bounce',
    });
  });

  it('the edge ends a batch, and counts it stopped, exactly where the functions keep the rest', () => {
    for (const status of STATUSES) {
      const keeps = ['away', 'retry'].includes(classifyFinal(status));
      expect(endsBatch(status)).toBe(keeps);
      expect(deliveryOutcomeClass(status) === 'stopped').toBe(keeps);
    }
  });
});

// Tells the API about presence changes the edge sees (REGISTER, PUBLISH, lapsed bindings):
// signed `POST /v1/presence`. Reporting never holds up or fails the SIP answer: the
// registration or publication itself succeeded, so a failed report is logged, not returned.
// Reports for one address-of-record go out one after another, so the API sees them in order.

import type { PresenceReport, PresenceUpdate } from '../shared/contract/presence.ts';
import { ApiUnavailableError } from './api-client.ts';
import { logger } from './log.ts';

export interface PresenceApi {
  post(path: string, payload: unknown): Promise<{ status: number; body: unknown }>;
}

export class PresenceReporter {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly api: PresenceApi) {}

  /** Queues a report; resolves once it was sent (or failed and was logged). Never rejects. */
  report(report: PresenceReport): Promise<void> {
    const previous = this.chains.get(report.aor) ?? Promise.resolve();
    const next = previous.then(() => this.send(report));
    this.chains.set(report.aor, next);
    void next.then(() => {
      if (this.chains.get(report.aor) === next) this.chains.delete(report.aor);
    });
    return next;
  }

  /** Waits for every queued report (a clean stop). */
  async drain(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private async send(report: PresenceReport): Promise<void> {
    const fields = { aor: report.aor, state: report.state, source: report.source };
    try {
      const update: PresenceUpdate = report;
      const answer = await this.api.post('/v1/presence', update);
      if (answer.status >= 200 && answer.status < 300) {
        logger.info('presence reported', fields);
      } else {
        logger.error('presence report refused by the API', { ...fields, status: answer.status });
      }
    } catch (error) {
      const unreachable = error instanceof ApiUnavailableError;
      logger.error(unreachable ? 'presence report failed: API unreachable' : 'presence report failed', {
        ...fields,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

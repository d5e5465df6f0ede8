// The AlertStore port's contract, run unchanged against the in-memory fake, SQLite and DynamoDB
// Local: an alert opened once per id (the second open sees the first), members' outcomes merged
// (a final outcome stays), dispatched marked, listed newest first in pages and by group, and an
// alert past its retention treated as absent.
import { ulid } from 'ulid';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALERT_RETENTION_MS, type AlertRecord, type AlertStore } from '../../functions/core/alerts.ts';

const unique = () => ulid().toLowerCase();
const aor = (user: string) => `sip:${user}@example.com`;

/** `make(now)`: a store whose clock is `now()`. */
export function describeAlertStoreContract(
  name: string,
  make: (now: () => number) => Promise<AlertStore>,
): void {
  describe(`AlertStore contract: ${name}`, () => {
    let alerts: AlertStore;
    let clock = Date.now();
    beforeAll(async () => {
      alerts = await make(() => clock);
    });

    const alertOf = (id: string, group: string, receivedAt: string, members: string[]): AlertRecord => ({
      id,
      group,
      from: 'nagios@mon.example.org',
      subject: `disk full ${id}`,
      messageId: `<${id}@mon.example.org>`,
      receivedAt,
      dispatched: false,
      members: members.map((member) => ({ member, outcome: 'held', at: receivedAt })),
    });

    it('opens an alert once: a second open with the same id answers the stored one', async () => {
      const id = `A${unique()}`;
      const group = aor(`ops-${id}`);
      const alert = alertOf(id, group, new Date(clock).toISOString(), [aor(`a-${id}`), aor(`b-${id}`)]);
      expect(await alerts.openAlert(alert)).toEqual({ opened: true });
      const again = await alerts.openAlert({ ...alert, subject: 'another' });
      expect(again).toEqual({ opened: false, existing: alert });
      expect(await alerts.getAlert(id)).toEqual(alert);
      expect(await alerts.getAlert(`A${unique()}`)).toBeUndefined();
    });

    it('merges outcomes: a final one is never replaced by a non-final one; marks dispatched', async () => {
      const id = `A${unique()}`;
      const [a, b] = [aor(`a-${id}`), aor(`b-${id}`)];
      const at = new Date(clock).toISOString();
      await alerts.openAlert(alertOf(id, aor(`ops-${id}`), at, [a, b]));
      await alerts.recordOutcomes(id, [
        { member: a, outcome: 'delivered', messageId: 'm1', at },
        { member: b, outcome: 'failed', detail: 'over quota', at },
      ]);
      // the dispatch's record lands late: a stays delivered
      await alerts.recordOutcomes(id, [{ member: a, outcome: 'delivering', messageId: 'm1', at }]);
      await alerts.markDispatched(id);
      const stored = await alerts.getAlert(id);
      expect(stored?.dispatched).toBe(true);
      expect(stored?.members.sort((x, y) => (x.member < y.member ? -1 : 1))).toEqual([
        { member: a, outcome: 'delivered', messageId: 'm1', at },
        { member: b, outcome: 'failed', detail: 'over quota', at },
      ]);
      // held → emailed (final after non-final) is taken
      await alerts.recordOutcomes(id, [{ member: b, outcome: 'dropped', messageId: 'm2', at }]);
      expect((await alerts.getAlert(id))?.members.find((m) => m.member === b)?.outcome).toBe('dropped');
      // an unknown alert: nothing, no error
      await alerts.recordOutcomes(`A${unique()}`, [{ member: a, outcome: 'delivered', at }]);
    });

    it('lists newest first in pages, and by group', async () => {
      const id = unique();
      const ops = aor(`ops-${id}`);
      const desk = aor(`desk-${id}`);
      const base = clock + 60_000; // after every other alert of the suite
      const made: AlertRecord[] = [];
      for (let i = 0; i < 5; i++) {
        const alert = alertOf(
          `A${id}${i}`,
          i % 2 === 0 ? ops : desk,
          new Date(base + i * 1000).toISOString(),
          [aor(`m-${id}`)],
        );
        await alerts.openAlert(alert);
        made.push(alert);
      }
      const first = await alerts.listAlerts({ limit: 2 });
      expect(first.alerts.map((alert) => alert.id)).toEqual([`A${id}4`, `A${id}3`]);
      expect(first.next).toBeDefined();
      const second = await alerts.listAlerts({ limit: 2, after: first.next as string });
      expect(second.alerts.map((alert) => alert.id)).toEqual([`A${id}2`, `A${id}1`]);
      const ofOps = await alerts.listAlerts({ group: ops, limit: 10 });
      expect(ofOps.alerts.map((alert) => alert.id)).toEqual([`A${id}4`, `A${id}2`, `A${id}0`]);
      expect(ofOps.next).toBeUndefined();
      expect(ofOps.alerts[0]).toEqual(made[4]);
    });

    it('treats an alert past its retention as absent, and opens its id again', async () => {
      const id = `A${unique()}`;
      const old = alertOf(id, aor(`old-${id}`), new Date(clock).toISOString(), [aor(`a-${id}`)]);
      await alerts.openAlert(old);
      clock += ALERT_RETENTION_MS + 60_000;
      try {
        expect(await alerts.getAlert(id)).toBeUndefined();
        expect((await alerts.listAlerts({ group: old.group })).alerts).toEqual([]);
        const fresh = { ...old, receivedAt: new Date(clock).toISOString() };
        expect(await alerts.openAlert(fresh)).toEqual({ opened: true });
        expect((await alerts.getAlert(id))?.receivedAt).toBe(fresh.receivedAt);
      } finally {
        clock = Date.now();
      }
    });
  });
}

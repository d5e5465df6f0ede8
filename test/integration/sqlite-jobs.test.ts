// The local work queues on the SQLite file: SQS's semantics as the handlers see them (delay,
// visibility timeout, receive count, redrive to the dead-letter queue), a send waking a waiting
// receive, and jobs kept across a reopen of the file (a restart of `npm start`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../functions/adapters/sqlite/db.ts';
import { deadLetterQueueOf, SqliteJobs } from '../../functions/adapters/sqlite/jobs.ts';

const dir = mkdtempSync(join(tmpdir(), 'holdover-jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteJobs', () => {
  it('hands a job out once per visibility timeout, counting receives, until it is deleted', async () => {
    let clock = Date.now();
    const jobs = new SqliteJobs(connect(join(dir, 'a.db')), () => clock);
    jobs.send('q', '{"n":1}');
    const [first] = await jobs.receive('q', 10);
    expect(first).toMatchObject({ Body: '{"n":1}', Attributes: { ApproximateReceiveCount: '1' } });
    expect(await jobs.receive('q', 10)).toEqual([]); // hidden
    clock += 180_001;
    const [again] = await jobs.receive('q', 10);
    expect(again?.MessageId).toBe(first?.MessageId);
    expect(again?.Attributes?.ApproximateReceiveCount).toBe('2');
    jobs.delete(first?.ReceiptHandle ?? ''); // a stale receipt deletes nothing
    expect(jobs.depth('q')).toBe(1);
    jobs.delete(again?.ReceiptHandle ?? '');
    expect(jobs.depth('q')).toBe(0);
  });

  it('keeps a delayed job back, and a retried one for its backoff', async () => {
    let clock = Date.now();
    const jobs = new SqliteJobs(connect(join(dir, 'b.db')), () => clock);
    jobs.send('q', 'later', 30);
    expect(await jobs.receive('q', 10)).toEqual([]);
    clock += 30_000;
    const [job] = await jobs.receive('q', 10);
    expect(job?.Body).toBe('later');
    jobs.changeVisibility(job?.ReceiptHandle ?? '', 5);
    clock += 4000;
    expect(await jobs.receive('q', 10)).toEqual([]);
    clock += 1000;
    expect((await jobs.receive('q', 10)).map((m) => m.Body)).toEqual(['later']);
  });

  it('moves a job received 10 times to the dead-letter queue', async () => {
    let clock = Date.now();
    const jobs = new SqliteJobs(connect(join(dir, 'c.db')), () => clock);
    jobs.send('q', 'poison');
    for (let receive = 1; receive <= 10; receive++) {
      const [job] = await jobs.receive('q', 10);
      expect(job?.Attributes?.ApproximateReceiveCount).toBe(String(receive));
      jobs.changeVisibility(job?.ReceiptHandle ?? '', 0);
      clock += 1;
    }
    expect(await jobs.receive('q', 10)).toEqual([]);
    expect(jobs.depth('q')).toBe(0);
    expect((await jobs.receive(deadLetterQueueOf('q'), 10)).map((m) => m.Body)).toEqual(['poison']);
  });

  it('wakes a waiting receive when a job is sent, and waits no longer than asked', async () => {
    const jobs = new SqliteJobs(connect(join(dir, 'd.db')));
    const started = Date.now();
    expect(await jobs.receive('q', 10, 200)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    const waiting = jobs.receive('q', 10, 5000);
    setTimeout(() => jobs.send('q', 'now'), 50);
    const sentAt = Date.now();
    expect((await waiting).map((m) => m.Body)).toEqual(['now']);
    expect(Date.now() - sentAt).toBeLessThan(1000);
  });

  it('keeps jobs across a reopen of the file', async () => {
    const path = join(dir, 'e.db');
    const db = connect(path);
    new SqliteJobs(db).send('q', 'survives');
    db.close();
    const reopened = new SqliteJobs(connect(path));
    expect((await reopened.receive('q', 10)).map((m) => m.Body)).toEqual(['survives']);
  });
});

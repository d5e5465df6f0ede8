// The local runtime's own parts against the real SQS stand-in: the queue poller runs jobs
// independently (a slow one never holds back the others), and the supervisor restarts a child
// that dies, with backoff, every time.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, stopChild } from '../../local/processes.ts';
import { pollQueue } from '../../local/queue-poller.ts';
import { sqsClient, startSqs } from '../../local/stand-ins.ts';
import { Supervisor } from '../../local/supervisor.ts';
import { freePort } from '../support/ports.ts';
import { waitUntil } from '../support/ua.ts';

const logDir = mkdtempSync(join(tmpdir(), 'holdover-local-'));
let sqs: ChildProcess;
let port: number;

beforeAll(async () => {
  port = await freePort();
  sqs = await startSqs(port, logDir);
});
afterAll(async () => {
  if (sqs) await stopChild(sqs);
});

async function queueWith(name: string, bodies: string[]): Promise<string> {
  const client = sqsClient(port);
  const { QueueUrl = '' } = await client.send(new CreateQueueCommand({ QueueName: name }));
  for (const body of bodies) await client.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
  return QueueUrl;
}

async function left(queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqsClient(port).send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
}

describe('the local queue poller', () => {
  it('runs each job on its own: a slow one does not hold back the others, each deleted when done', async () => {
    const queueUrl = await queueWith(`poller-${Date.now()}`, ['slow', 'fast-1', 'fast-2']);
    const done = new Map<string, number>();
    let release: () => void = () => {};
    const slowGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const started = Date.now();
    const poller = pollQueue({
      client: sqsClient(port),
      queueUrl,
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:poller',
      handler: async (event: SQSEvent): Promise<SQSBatchResponse> => {
        for (const record of event.Records) {
          if (record.body === 'slow') await slowGate;
          done.set(record.body, Date.now() - started);
        }
        return { batchItemFailures: [] };
      },
      onError: (error) => {
        throw error;
      },
    });
    try {
      await waitUntil(
        'both fast jobs',
        () => (done.has('fast-1') && done.has('fast-2') ? true : undefined),
        5000,
      );
      expect(done.has('slow')).toBe(false);
      await waitUntil('the fast jobs deleted while the slow one runs', async () =>
        (await left(queueUrl)) === 1 ? true : undefined,
      );
      release();
      await waitUntil('the slow job', () => done.get('slow'), 5000);
      await waitUntil('every job deleted', async () => ((await left(queueUrl)) === 0 ? true : undefined));
    } finally {
      release();
      await poller.stop();
    }
  });

  it('keeps at most `concurrency` jobs at once, leaves a failed one on the queue, and stops within its grace', async () => {
    const queueUrl = await queueWith(`bounded-${Date.now()}`, ['a', 'b', 'c', 'd', 'fail']);
    let running = 0;
    let most = 0;
    const seen: string[] = [];
    const poller = pollQueue({
      client: sqsClient(port),
      queueUrl,
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:bounded',
      concurrency: 2,
      handler: async (event) => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 150));
        running--;
        const [record] = event.Records;
        seen.push(record?.body ?? '');
        return { batchItemFailures: record?.body === 'fail' ? [{ itemIdentifier: record.messageId }] : [] };
      },
      onError: () => {},
    });
    await waitUntil('all five handled', () => (seen.length >= 5 ? true : undefined), 10_000);
    const stopping = Date.now();
    await poller.stop(1000);
    expect(Date.now() - stopping).toBeLessThan(2500);
    expect(most).toBe(2);
    expect(await left(queueUrl)).toBe(1); // the failed job comes back after its visibility timeout
  });
});

describe('the supervisor', () => {
  it('restarts a child that dies, after 0.5 s, 1 s, 2 s …, and reports it up again', async () => {
    const lines: string[] = [];
    const supervisor = new Supervisor(
      {
        label: 'sleeper',
        start: () =>
          startChild({
            name: 'sleeper',
            command: process.execPath,
            args: ['-e', 'setInterval(() => {}, 1000)'],
            logDir,
            timeoutMs: 5000,
            ready: async () => true,
          }),
      },
      { progress: (line) => lines.push(line), minDelayMs: 100, maxDelayMs: 400 },
    );
    expect([1, 2, 3, 4, 5].map((n) => supervisor.delayFor(n))).toEqual([100, 200, 400, 400, 400]);
    await supervisor.start();
    expect(supervisor.status).toBe('up');
    try {
      for (let death = 1; death <= 4; death++) {
        const pid = supervisor.child?.pid;
        supervisor.child?.kill('SIGKILL');
        await waitUntil(`restart ${death}`, () =>
          supervisor.status === 'up' && supervisor.child?.pid !== pid ? true : undefined,
        );
      }
      expect(lines.filter((line) => line.includes('restarting it'))).toEqual([
        'sleeper stopped unexpectedly (SIGKILL); restarting it in 0.1s',
        'sleeper stopped unexpectedly (SIGKILL); restarting it in 0.2s',
        'sleeper stopped unexpectedly (SIGKILL); restarting it in 0.4s',
        'sleeper stopped unexpectedly (SIGKILL); restarting it in 0.4s',
      ]);
    } finally {
      supervisor.stop();
      if (supervisor.child) await stopChild(supervisor.child);
    }
  });

  it('keeps trying when a restart fails, and gives up on nothing', async () => {
    const lines: string[] = [];
    let attempts = 0;
    const supervisor = new Supervisor(
      {
        label: 'flaky',
        start: () => {
          attempts++;
          // the 2nd and 3rd starts fail at once (as a port still taken would), the 4th works
          const fails = attempts === 2 || attempts === 3;
          return startChild({
            name: 'flaky',
            command: process.execPath,
            args: ['-e', fails ? 'process.exit(3)' : 'setInterval(() => {}, 1000)'],
            logDir,
            timeoutMs: 5000,
            ready: async () => !fails,
          });
        },
      },
      { progress: (line) => lines.push(line), minDelayMs: 50, maxDelayMs: 200 },
    );
    await supervisor.start();
    try {
      supervisor.child?.kill('SIGKILL');
      await waitUntil(
        'up again',
        () => (supervisor.status === 'up' && attempts === 4 ? true : undefined),
        10_000,
      );
      expect(lines.filter((line) => line.includes('could not be restarted'))).toHaveLength(2);
      expect(lines.at(-1)).toBe('flaky ready again');
    } finally {
      supervisor.stop();
      if (supervisor.child) await stopChild(supervisor.child);
    }
  });
});

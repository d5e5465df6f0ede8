// The inbound-email function as SES invokes it (the receipt rule's Lambda action, after its S3
// action stored the raw mail): it reads `<prefix><messageId>` from the bucket (a loopback S3
// stand-in here, which checks the SigV4 signature independently: test/support/sigv4.ts), maps the
// receipt's verdicts, and dispatches through the real use case and the SQLite store. A FAIL
// verdict, a mail larger than the limit and an unreadable one are refused: dropped, nothing held,
// never retried; S3 failing is (the invocation throws), after the reader's own retries.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigv4Fault } from '../support/sigv4.ts';
import { rawMail } from '../support/smtp.ts';

const dir = mkdtempSync(join(tmpdir(), 'holdover-inbound-'));
const objects = new Map<string, string | Buffer>();
const requested: string[] = [];
/** Answers the stand-in gives before serving an object (e.g. 503s to be retried). */
const failures: number[] = [];
let s3: Server;
let inbound: typeof import('../../functions/inbound-email.ts');
let groups: typeof import('../../functions/adapters/store.ts');

beforeAll(async () => {
  s3 = createServer((request, response) => {
    requested.push(`${request.method} ${request.url}`);
    const fault =
      request.headers['x-amz-security-token'] === 'session' &&
      /SignedHeaders=[^,]*x-amz-security-token/.test(request.headers.authorization ?? '')
        ? sigv4Fault(request, 'test', 's3')
        : 'InvalidToken';
    if (fault !== undefined) {
      response.writeHead(403, { 'content-type': 'application/xml' });
      response.end(`<Error><Code>${fault}</Code></Error>`);
      return;
    }
    const failure = failures.shift();
    if (failure !== undefined) {
      response.writeHead(failure, { 'content-type': 'application/xml' });
      response.end('<Error><Code>SlowDown</Code></Error>');
      return;
    }
    const body = objects.get(decodeURIComponent((request.url ?? '').split('?')[0] ?? ''));
    if (body === undefined) {
      response.writeHead(404, { 'content-type': 'application/xml' });
      response.end('<Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    response.writeHead(200, { 'content-type': 'message/rfc822', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
  await new Promise<void>((resolve) => s3.listen(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    HOLDOVER_STORE: 'sqlite',
    HOLDOVER_SQLITE_PATH: join(dir, 'holdover.db'),
    HOLDOVER_DOMAINS: 'example.com',
    HOLDOVER_INBOUND_BUCKET: 'mail-bucket',
    HOLDOVER_INBOUND_PREFIX: 'inbound/',
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${(s3.address() as AddressInfo).port}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    // as in Lambda: the role's temporary credentials come with a session token, signed too
    AWS_SESSION_TOKEN: 'session',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'WARN',
  });
  inbound = await import('../../functions/inbound-email.ts');
  groups = await import('../../functions/adapters/store.ts');
  const { setGroup } = await import('../../functions/core/groups.ts');
  await setGroup(
    groups.groupStore,
    'sip:ops@example.com',
    {
      members: ['sip:ann@example.com'],
      routing: 'all',
      email: 'ops@alerts.example.com',
      alertSenders: ['@mon.example.org'],
    },
    new Set(['example.com']),
    Date.now(),
  );
});
afterAll(async () => {
  await new Promise((resolve) => s3?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const pass = { status: 'PASS' };
function sesEvent(messageId: string, verdicts: Record<string, { status: string }> = {}) {
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        eventVersion: '1.0',
        ses: {
          mail: { messageId, source: 'bounce@mon.example.org', destination: ['ops@alerts.example.com'] },
          receipt: {
            recipients: ['ops@alerts.example.com'],
            spfVerdict: pass,
            dkimVerdict: pass,
            spamVerdict: pass,
            virusVerdict: pass,
            ...verdicts,
          },
        },
      },
    ],
  };
}

describe('the inbound-email function (SES → S3 → here)', () => {
  it('reads the raw mail SES stored and dispatches it; a failing verdict is dropped', async () => {
    objects.set(
      '/mail-bucket/inbound/ses-1',
      rawMail(
        {
          From: 'nagios@mon.example.org',
          To: 'ops@alerts.example.com',
          Subject: 'Disk full',
          'Message-ID': '<s1@m>',
        },
        'db1 at 92%',
      ),
    );
    await inbound.handler(sesEvent('ses-1'));
    expect(requested).toContain('GET /mail-bucket/inbound/ses-1');
    const held = await groups.store.listHeld('sip:ann@example.com');
    expect(held.messages.map((message) => Buffer.from(message.body).toString())).toEqual([
      'Disk full\n\ndb1 at 92%',
    ]);
    const [alert] = (await groups.alertStore.listAlerts({ group: 'sip:ops@example.com' })).alerts;
    expect(alert?.members).toMatchObject([{ member: 'sip:ann@example.com', outcome: 'held' }]);

    objects.set(
      '/mail-bucket/inbound/ses-2',
      rawMail(
        {
          From: 'nagios@mon.example.org',
          To: 'ops@alerts.example.com',
          Subject: 'Spoofed',
          'Message-ID': '<s2@m>',
        },
        'x',
      ),
    );
    await inbound.handler(sesEvent('ses-2', { dkimVerdict: { status: 'FAIL' } }));
    expect((await groups.store.listHeld('sip:ann@example.com')).messages).toHaveLength(1);
    expect((await groups.alertStore.listAlerts()).alerts).toHaveLength(1);
  });

  it('retries S3 when it is busy; refuses a mail too large or unreadable without retrying; throws when S3 has none', async () => {
    const before = (await groups.store.listHeld('sip:ann@example.com')).messages.length;
    objects.set(
      '/mail-bucket/inbound/ses-3',
      rawMail({ From: 'nagios@mon.example.org', Subject: 'Busy S3', 'Message-ID': '<s3@m>' }, 'retried'),
    );
    failures.push(503, 500);
    await inbound.handler(sesEvent('ses-3'));
    expect(requested.filter((line) => line === 'GET /mail-bucket/inbound/ses-3')).toHaveLength(3);
    const held = async () =>
      (await groups.store.listHeld('sip:ann@example.com')).messages.map((message) =>
        Buffer.from(message.body).toString(),
      );
    expect((await held()).slice(before)).toEqual(['Busy S3\n\nretried']);

    objects.set('/mail-bucket/inbound/ses-4', Buffer.alloc(10 * 1024 * 1024 + 1, 'a'));
    await inbound.handler(sesEvent('ses-4')); // resolves: refused, not retried
    objects.set(
      '/mail-bucket/inbound/ses-5',
      `From: nagios@mon.example.org\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n${'--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n'.repeat(100)}`,
    );
    await inbound.handler(sesEvent('ses-5'));
    expect(await held()).toHaveLength(before + 1);

    await expect(inbound.handler(sesEvent('ses-missing'))).rejects.toThrow(
      's3://mail-bucket/inbound/ses-missing answered 404 (NoSuchKey)',
    );
  });

  it('refuses an event that is not an SES receipt (no S3 key from attacker text)', async () => {
    await expect(inbound.handler(sesEvent('../../etc/passwd'))).rejects.toThrow();
    await expect(inbound.handler({ Records: [] })).rejects.toThrow();
  });
});

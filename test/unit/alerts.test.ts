// Alerts from email: the pure rules (address matching, the sender allowlist, the IM's text and its
// trimming), the mail parser adapter on real MIME samples (plain, HTML, XML, quoted-printable,
// base64, charsets), and the use case on the in-memory fakes (refusals, dedupe, each member's
// outcome at dispatch, on delivery and on expiry).
import { describe, expect, it } from 'vitest';
import { parseMail } from '../../functions/adapters/mail-parser.ts';
import {
  type AlertDeps,
  alertBody,
  displayNameOf,
  htmlToText,
  mailboxOf,
  mailText,
  receiveAlert,
  senderAllowed,
} from '../../functions/core/alerts.ts';
import type { CaptureDeps } from '../../functions/core/capture.ts';
import { type DeliveryDeps, deliverBacklog } from '../../functions/core/delivery.ts';
import { emailExpired } from '../../functions/core/expiry.ts';
import { type GroupInput, setGroup } from '../../functions/core/groups.ts';
import type { EdgeDelivery } from '../../functions/core/ports.ts';
import { MemoryAlerts, MemoryGroupStore, MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const DOMAINS = new Set(['example.com']);
const A = 'sip:ann@example.com';
const B = 'sip:ben@example.com';
const OPS = 'sip:ops@example.com';
const INBOUND = 'ops@alerts.example.com';

const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');

describe('mailboxOf and senderAllowed', () => {
  it('takes a mailbox in lower case, with or without angle brackets; refuses what is none', () => {
    expect(mailboxOf(' <Ops@Example.COM> ')).toBe('ops@example.com');
    expect(mailboxOf('"a@b"@example.com')).toBe('"a@b"@example.com');
    for (const bad of ['', 'ops', '@example.com', 'ops@', 'a b@example.com', 'ops@exa mple.com', undefined])
      expect(mailboxOf(bad)).toBeUndefined();
  });

  it('allows exact addresses and whole domains, case-insensitively; not a look-alike or a subdomain', () => {
    const allowed = ['nagios@mon.example.org', '@Monitor.example.net'];
    expect(senderAllowed('NAGIOS@mon.example.org', allowed)).toBe(true);
    expect(senderAllowed('anyone@monitor.EXAMPLE.net', allowed)).toBe(true);
    expect(senderAllowed('other@mon.example.org', allowed)).toBe(false);
    expect(senderAllowed('x@evil-monitor.example.net', allowed)).toBe(false);
    expect(senderAllowed('x@sub.monitor.example.net', allowed)).toBe(false);
    // the domain is what follows the last @, whatever a quoted local part holds
    expect(senderAllowed('"x@monitor.example.net"@evil.org', allowed)).toBe(false);
    expect(senderAllowed('nagios@mon.example.org', [])).toBe(false);
  });

  it('makes the sender a one-line display name', () => {
    expect(displayNameOf('nagios@mon.example.org', 'Nagios\r\nInjected: x')).toBe(
      'Nagios Injected: x (nagios@mon.example.org)',
    );
    expect(displayNameOf('nagios@mon.example.org', undefined)).toBe('nagios@mon.example.org');
    expect([...displayNameOf('a@b.org', 'x'.repeat(500))]).toHaveLength(200);
  });
});

describe("the IM's text", () => {
  it('prefers the text part; else reduces HTML to text; else keeps XML as it is', () => {
    expect(mailText({ text: 'line  \r\n\r\n\r\n\r\nnext\n' })).toBe('line\n\nnext');
    expect(
      htmlToText(
        '<html><head><title>t</title><style>p{}</style></head><body><p>Disk &amp; CPU</p><ul><li>db1</li><li>db2</li></ul><script>x()</script>a&#233;&#x263A;</body></html>',
      ),
    ).toBe('Disk & CPU\n\n- db1\n- db2\naé☺');
    expect(mailText({ html: '<p>only html</p>' })).toBe('only html');
    expect(mailText({ xml: '<alert>\n  <host>db1</host>\n</alert>\n' })).toBe(
      '<alert>\n  <host>db1</host>\n</alert>',
    );
    expect(mailText({})).toBe('');
  });

  it('is the subject, a blank line and the text; trimmed to the limit at a character boundary, with a note', () => {
    expect(alertBody('Disk full', 'db1 at 92%', 1000)).toBe('Disk full\n\ndb1 at 92%');
    expect(alertBody('Disk full', '', 1000)).toBe('Disk full');
    const long = alertBody('S', 'é'.repeat(1000), 300);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(300);
    expect(long).toMatch(/^S\n\né+\n\n\[trimmed: the alert is 2003 bytes, only the first \d+ are shown\]$/);
    expect(long).not.toContain('\uFFFD');
  });
});

describe('parseMail (postal-mime) on real MIME samples', () => {
  const envelope = { from: 'bounce@mon.example.org', to: [INBOUND] };

  it('decodes quoted-printable in ISO-8859-1 and an encoded-word subject', async () => {
    const mail = await parseMail(
      Buffer.from(
        crlf(
          'From: "Nagios" <nagios@mon.example.org>\nTo: ops@alerts.example.com\nSubject: =?ISO-8859-1?Q?Caf=E9_down?=\nMessage-ID: <m1@mon.example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nThe caf=E9 server is d=\nown.\n',
        ),
        'latin1',
      ),
      envelope,
    );
    expect(mail).toMatchObject({
      from: 'nagios@mon.example.org',
      fromName: 'Nagios',
      subject: 'Café down',
      messageId: '<m1@mon.example.org>',
      to: [INBOUND],
    });
    expect(mailText(mail)).toBe('The café server is down.');
  });

  it('takes the text part of a multipart/alternative with a base64 UTF-8 HTML part', async () => {
    const html = Buffer.from('<p>Ticket <b>#42</b> — 日本</p>').toString('base64');
    const mail = await parseMail(
      Buffer.from(
        crlf(
          `From: desk@help.example.org\nSubject: Ticket 42\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b1"\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${Buffer.from('Ticket #42 — 日本').toString('base64')}\n--b1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${html}\n--b1--\n`,
        ),
      ),
      envelope,
    );
    expect(mailText(mail)).toBe('Ticket #42 — 日本');
    expect(mail.html).toContain('<b>#42</b>');
  });

  it('reduces an HTML-only mail to text, and keeps an XML body readable in its charset', async () => {
    const htmlOnly = await parseMail(
      Buffer.from(
        crlf(
          'From: a@b.org\nSubject: h\nContent-Type: text/html; charset=utf-8\n\n<p>Backup <b>failed</b></p><p>again</p>\n',
        ),
      ),
      envelope,
    );
    expect(mailText(htmlOnly)).toBe('Backup failed\n\nagain');
    const xml = await parseMail(
      Buffer.from(
        crlf(
          'From: a@b.org\nSubject: x\nMIME-Version: 1.0\nContent-Type: application/xml; charset=iso-8859-1\n\n<alert><host>caf\xe9</host></alert>\n',
        ),
        'latin1',
      ),
      envelope,
    );
    expect(mailText(xml)).toBe('<alert><host>café</host></alert>');
  });

  it('falls back to the envelope sender when the mail has no From', async () => {
    const mail = await parseMail(Buffer.from(crlf('Subject: none\n\nbody\n')), envelope);
    expect(mail.from).toBe('bounce@mon.example.org');
  });
});

function system(groupInput: Partial<GroupInput> = {}) {
  const store = new MemoryStore();
  store.now = () => NOW;
  const groups = new MemoryGroupStore();
  const queue = new MemoryQueue();
  const alerts = new MemoryAlerts(() => NOW);
  let n = 0;
  const capture: CaptureDeps = {
    store,
    users: store,
    queue,
    groups,
    policy: { domains: DOMAINS, defaultExpireAfterMs: 3_600_000, maxBodyBytes: 65_536, quota: 1000 },
    now: () => NOW,
    newId: () => `01M${String(++n).padStart(23, '0')}`,
  };
  const deps: AlertDeps = { groups, alerts, capture, now: () => NOW, newId: () => `X${++n}` };
  const ready = setGroup(
    groups,
    OPS,
    {
      members: [A, B],
      routing: 'one',
      email: INBOUND,
      alertSenders: ['@mon.example.org'],
      ...groupInput,
    },
    DOMAINS,
    NOW,
  );
  return { store, groups, queue, alerts, deps, ready };
}

const mail = (extra: Record<string, unknown> = {}) => ({
  from: 'Nagios@Mon.example.org',
  fromName: 'Nagios',
  to: ['OPS@alerts.example.com'],
  subject: 'Disk full',
  text: 'db1 at 92%',
  messageId: '<m1@mon.example.org>',
  ...extra,
});

describe('a group with an inbound address', () => {
  it('keeps it in lower case, drop on expiry by default, and refuses one another group has', async () => {
    const { groups, ready } = system();
    const group = await ready;
    expect(group).toMatchObject({ email: INBOUND, onExpire: 'drop' });
    await expect(
      setGroup(
        groups,
        'sip:desk@example.com',
        { members: [A], routing: 'all', email: 'Ops@Alerts.example.com' },
        DOMAINS,
        NOW,
      ),
    ).rejects.toThrow(`${INBOUND} is already the inbound address of ${OPS}`);
    // the group itself may be set again with it
    await setGroup(
      groups,
      OPS,
      { members: [B], routing: 'all', email: INBOUND, onExpire: 'email' },
      DOMAINS,
      NOW,
    );
    expect((await groups.getGroup(OPS))?.onExpire).toBe('email');
  });
});

describe('receiveAlert', () => {
  it('gives every member a copy (whatever the routing), From the group, delivered now or held', async () => {
    const { store, queue, alerts, deps, ready } = system();
    await ready;
    // ann is online: her copy starts a delivery run at once; ben is offline
    store.presence.set(A, { published: 'online', version: 1, updatedAt: '' });
    const result = await receiveAlert(mail(), deps);
    expect(result.status).toBe('dispatched');
    expect(
      store.messages.map((m) => [m.recipient, m.sender, m.senderName, Buffer.from(m.body).toString()]),
    ).toEqual([
      [A, OPS, 'Nagios (nagios@mon.example.org)', 'Disk full\n\ndb1 at 92%'],
      [B, OPS, 'Nagios (nagios@mon.example.org)', 'Disk full\n\ndb1 at 92%'],
    ]);
    expect(store.messages[0]?.alert).toEqual({ id: expect.stringMatching(/^A/), onExpire: 'drop' });
    expect(queue.jobs).toEqual([{ kind: 'deliver', recipient: A }]);
    const [alert] = (await alerts.listAlerts()).alerts;
    expect(alert).toMatchObject({
      group: OPS,
      from: 'nagios@mon.example.org',
      subject: 'Disk full',
      dispatched: true,
    });
    expect(alert?.members.map((m) => [m.member, m.outcome])).toEqual([
      [A, 'delivering'],
      [B, 'held'],
    ]);
  });

  it('dispatches the same Message-ID once', async () => {
    const { store, deps, ready } = system();
    await ready;
    await receiveAlert(mail(), deps);
    const again = await receiveAlert(mail({ subject: 'changed' }), deps);
    expect(again.status).toBe('duplicate');
    expect(store.messages).toHaveLength(2);
  });

  it('completes a dispatch a crash left half done, without a second copy', async () => {
    const { store, alerts, deps, ready } = system();
    await ready;
    const failing = {
      ...deps,
      alerts: Object.assign(Object.create(alerts), { markDispatched: async () => {} }),
    };
    await receiveAlert(mail(), failing);
    expect(store.messages).toHaveLength(2);
    const retried = await receiveAlert(mail(), deps);
    expect(retried.status).toBe('dispatched');
    expect(store.messages).toHaveLength(2);
  });

  it('refuses an unknown address, a sender not allowed, a mail failing a verdict; counts each reason', async () => {
    const { store, deps, ready } = system();
    await ready;
    const reasons: string[] = [];
    const observed = {
      ...deps,
      observe: (event: { kind: string; reason?: string }) => void reasons.push(event.reason ?? ''),
    };
    expect(await receiveAlert(mail({ to: ['nobody@alerts.example.com'] }), observed)).toMatchObject({
      status: 'refused',
      reason: 'unknown-recipient',
    });
    expect(await receiveAlert(mail({ from: 'x@evil.org' }), observed)).toMatchObject({
      status: 'refused',
      reason: 'sender-not-allowed',
      message: `x@evil.org may not send alerts to ${INBOUND}`,
    });
    expect(await receiveAlert(mail({ verdicts: { spf: 'PASS', dkim: 'FAIL' } }), observed)).toMatchObject({
      status: 'refused',
      reason: 'dkim',
    });
    expect(await receiveAlert(mail({ verdicts: { virus: 'FAIL' } }), observed)).toMatchObject({
      reason: 'virus',
    });
    expect(await receiveAlert(mail({ from: undefined }), observed)).toMatchObject({ reason: 'no-sender' });
    expect(reasons).toEqual(['unknown-recipient', 'sender-not-allowed', 'dkim', 'virus', 'no-sender']);
    expect(store.messages).toEqual([]);
  });

  it('records a member over quota as failed, and the others go on', async () => {
    const { store, alerts, deps, ready } = system();
    await ready;
    const tight = { ...deps, capture: { ...deps.capture, policy: { ...deps.capture.policy, quota: 1 } } };
    await receiveAlert(mail({ messageId: '<other@m>' }), tight); // fills both members' quota of 1
    store.messages.splice(0, 1); // ann's is gone (delivered): she has room again
    await receiveAlert(mail(), tight);
    const alert = (await alerts.listAlerts()).alerts.find(
      (found) => found.messageId === '<m1@mon.example.org>',
    );
    expect(alert?.members.map((m) => [m.member, m.outcome])).toEqual([
      [A, 'held'],
      [B, 'failed'],
    ]);
    expect(alert?.members[1]?.detail).toMatch(/limit 1/);
  });

  it('records delivered when the copy is delivered, and dropped (by default) when it expires', async () => {
    const { store, queue, alerts, deps, ready } = system();
    await ready;
    store.presence.set(A, {
      registration: { contact: 'sip:ann@127.0.0.1:5090', expiresAt: new Date(NOW + 3_600_000).toISOString() },
      version: 1,
      updatedAt: '',
    });
    await receiveAlert(mail(), deps);
    const delivery: DeliveryDeps = {
      users: store,
      store,
      queue,
      edge: {
        deliver: async (request): Promise<EdgeDelivery> => ({
          outcomes: request.messages.map((m) => ({ id: m.id, status: 200, reason: 'OK' })),
          complete: true,
        }),
      },
      now: () => NOW,
      newId: () => 'owner',
      viaProxy: false,
      batchSize: 10,
      leaseMs: 60_000,
      alerts,
    };
    await deliverBacklog(A, delivery);
    // ben's copy expires: claimed, then the group's policy drops it (no mail loop)
    const bens = store.messages.find((m) => m.recipient === B);
    if (bens === undefined) throw new Error('no copy for ben');
    bens.state = 'expiring';
    const sent: string[] = [];
    const outcome = await emailExpired(
      { recipient: B, reason: 'expired', messages: [{ id: bens.id, receivedAt: bens.receivedAt }] },
      {
        users: store,
        store,
        mailer: {
          send: async (m) => {
            sent.push(m.to);
            return 'mail-1';
          },
        },
        notices: queue,
        now: () => NOW,
        newId: () => 'n',
        alerts,
      },
    );
    expect(outcome).toMatchObject({ outcome: 'dropped', count: 1 });
    expect(sent).toEqual([]);
    expect(store.messages).toEqual([]);
    const [alert] = (await alerts.listAlerts()).alerts;
    expect(alert?.members.map((m) => [m.member, m.outcome])).toEqual([
      [A, 'delivered'],
      [B, 'dropped'],
    ]);
  });

  it("emails an expired copy when the group says so, in the member's digest", async () => {
    const { store, queue, alerts, deps, ready } = system({ onExpire: 'email' });
    await ready;
    await receiveAlert(mail(), deps);
    const bens = store.messages.find((m) => m.recipient === B);
    if (bens === undefined) throw new Error('no copy for ben');
    bens.state = 'expiring';
    const sent: string[] = [];
    const outcome = await emailExpired(
      { recipient: B, reason: 'expired', messages: [{ id: bens.id, receivedAt: bens.receivedAt }] },
      {
        users: store,
        store,
        mailer: {
          send: async (m) => {
            sent.push(m.to);
            return 'mail-1';
          },
        },
        notices: queue,
        now: () => NOW,
        newId: () => 'n',
        alerts,
      },
    );
    expect(outcome).toMatchObject({ outcome: 'emailed', count: 1 });
    expect(sent).toEqual(['ben@example.com']);
    const [alert] = (await alerts.listAlerts()).alerts;
    expect(alert?.members.find((m) => m.member === B)?.outcome).toBe('emailed');
  });
});

// End to end: alerts from email through the whole local system. Mail goes in with Python's
// smtplib (an independent SMTP client) to the listener on SMTP_PORT; members are a scripted UA
// (registered) and a sipp UAS (offline until it registers). The group is set with the CLI.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { signedFetch } from '../support/signed.ts';
import { sipp } from '../support/sipp.ts';
import { rawMail, sendMail } from '../support/smtp.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';
import { TestUa, waitUntil } from '../support/ua.ts';

let system: RunningSystem;
const unique = () => randomBytes(4).toString('hex');
const aor = (user: string) => `sip:${user}@example.com`;
const uas: TestUa[] = [];

beforeAll(async () => {
  system = await startSystem({
    env: { DELIVERY_TIMEOUT: '3s', HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32', HOLDOVER_SWEEP_INTERVAL: '1s' },
  });
});
afterAll(async () => {
  for (const ua of uas) ua.close();
  await system?.stop();
});

async function registered(user: string): Promise<{ aor: string; ua: TestUa }> {
  const ua = new TestUa();
  await ua.start();
  uas.push(ua);
  const address = aor(user);
  expect((await ua.register(system.sipPort, address)).status).toBe(200);
  return { aor: address, ua };
}

interface AlertView {
  id: string;
  group: string;
  from: string;
  subject: string;
  members: Array<{ member: string; outcome: string }>;
}

const alertsOf = async (group: string) =>
  JSON.parse(await system.cli('alerts', '--group', group, '--json')) as AlertView[];

describe('alerts from email', () => {
  it('dispatches a mail as one IM per member: at once to the registered one, on REGISTER to the other', async () => {
    const id = unique();
    const ann = await registered(`ann-${id}`);
    const catUser = `cat-${id}`;
    const group = aor(`ops-${id}`);
    const inbound = `ops-${id}@alerts.example.com`;
    await system.cli(
      'groups',
      'set',
      group,
      '--members',
      `${ann.aor},${aor(catUser)}`,
      '--routing',
      'all',
      '--email',
      inbound,
      '--alert-senders',
      'nagios@mon.example.org,@monitor.example.net',
    );
    // quoted-printable, ISO-8859-1, an encoded subject: the parser decodes them all
    const mail = rawMail(
      {
        From: '"Nagios Monitor" <Nagios@MON.example.org>',
        To: inbound,
        Subject: '=?UTF-8?Q?Disk_full_on_db1_=E2=80=94_92=25?=',
        'Message-ID': `<disk-${id}@mon.example.org>`,
        'MIME-Version': '1.0',
        'Content-Type': 'text/plain; charset=iso-8859-1',
        'Content-Transfer-Encoding': 'quoted-printable',
      },
      'Host db1: /var at 92 %, caf=E9 logs.\n',
    );
    const sent = await sendMail(system.smtpPort, 'bounce@mon.example.org', [inbound], mail);
    expect(sent.code, sent.text).toBe(250);
    expect(Number(sent.size)).toBeGreaterThan(0);

    await waitUntil('the alert at ann', () => (ann.ua.messages().length === 1 ? true : undefined));
    const im = ann.ua.messages()[0];
    expect(im?.body).toBe('Disk full on db1 — 92%\n\nHost db1: /var at 92 %, café logs.');
    expect(im?.from).toContain(`<${group}>`);
    expect(im?.from).toContain('Nagios Monitor (nagios@mon.example.org)');

    // cat is offline: her copy waits, then reaches a sipp UAS when she registers
    const held = await heldFor(system, aor(catUser));
    expect(held.map((message) => [message.from, message.body])).toEqual([
      [group, 'Disk full on db1 — 92%\n\nHost db1: /var at 92 %, café logs.'],
    ]);
    const uasPort = await freePort();
    const cat = sipp({
      scenario: 'message_uas.xml',
      localPort: uasPort,
      calls: 1,
      traceLogs: true,
      timeoutSeconds: 20,
      extraArgs: ['-set', 'accept', '1'],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const register = await sipp({
      scenario: 'register_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 1,
      extraArgs: ['-s', catUser],
      keys: { uas_port: String(uasPort), uas_transport: 'udp', expires: '300' },
    });
    expect(register.code).toBe(0);
    const got = await cat;
    expect(got.code, got.errors.slice(0, 1500) + got.screen).toBe(0);
    expect(got.logs).toContain('Disk full on db1');

    // the record: both delivered
    const [alert] = await waitUntil('both outcomes delivered', async () => {
      const alerts = await alertsOf(group);
      return alerts[0]?.members.every((member) => member.outcome === 'delivered') ? alerts : undefined;
    });
    expect(alert).toMatchObject({ group, from: 'nagios@mon.example.org', subject: 'Disk full on db1 — 92%' });
    expect(alert?.members.map((member) => member.member).sort()).toEqual([ann.aor, aor(catUser)].sort());
    // the text listing names each outcome
    const listing = await system.cli('alerts', '--group', group);
    expect(listing).toContain('Disk full on db1');
    expect(listing).toContain(`${ann.aor}  delivered`);
  });

  it('refuses an unknown address at RCPT TO, a sender not allowed and an unreadable mail at the end of DATA, all 550', async () => {
    const id = unique();
    const ann = await registered(`ann-${id}`);
    const group = aor(`noc-${id}`);
    const inbound = `noc-${id}@alerts.example.com`;
    await system.cli(
      'groups',
      'set',
      group,
      '--members',
      ann.aor,
      '--routing',
      'one',
      '--email',
      inbound,
      '--alert-senders',
      '@monitor.example.net',
    );
    const unknown = await sendMail(
      system.smtpPort,
      'x@monitor.example.net',
      [`nobody-${id}@alerts.example.com`],
      rawMail({ From: 'x@monitor.example.net', Subject: 'hi' }, 'text'),
    );
    expect(unknown).toMatchObject({ code: 550, stage: 'rcpt' });
    expect(unknown.text).toMatch(/no group has this inbound address/);

    // a look-alike domain is not the allowed one
    const stranger = await sendMail(
      system.smtpPort,
      'ops@monitor.example.net',
      [inbound],
      rawMail({ From: 'ops@evil-monitor.example.net', To: inbound, Subject: 'fake' }, 'text'),
    );
    expect(stranger).toMatchObject({ code: 550, stage: 'data' });
    expect(stranger.text).toContain(`ops@evil-monitor.example.net may not send alerts to ${inbound}`);

    // the allowed domain (HTML only, base64): one IM, its HTML reduced to text
    const html = Buffer.from(
      '<html><body><h1>Backup</h1><p>Job &amp; report <b>failed</b></p></body></html>',
    ).toString('base64');
    const allowed = await sendMail(
      system.smtpPort,
      'ops@monitor.example.net',
      [inbound],
      rawMail(
        {
          From: 'Backup <Backup@Monitor.Example.NET>',
          To: inbound,
          Subject: 'Backup failed',
          'Message-ID': `<backup-${id}@monitor.example.net>`,
          'MIME-Version': '1.0',
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Transfer-Encoding': 'base64',
        },
        html,
      ),
    );
    expect(allowed.code, allowed.text).toBe(250);
    await waitUntil('the alert', () => (ann.ua.messages().length === 1 ? true : undefined));
    expect(ann.ua.messages()[0]?.body).toBe('Backup failed\n\nBackup\n\nJob & report failed');
    expect(ann.ua.messages()).toHaveLength(1);

    // a mail the parser cannot read (MIME nested past its limit): 550 saying why, not 451 (no retry)
    const nested = await sendMail(
      system.smtpPort,
      'ops@monitor.example.net',
      [inbound],
      rawMail(
        {
          From: 'ops@monitor.example.net',
          To: inbound,
          Subject: 'deep',
          'Content-Type': 'multipart/mixed; boundary=a',
        },
        '--a\nContent-Type: multipart/mixed; boundary=a\n\n'.repeat(100),
      ),
    );
    expect(nested).toMatchObject({ code: 550, stage: 'data' });
    expect(nested.text).toContain(
      'the mail is not readable MIME: Maximum MIME nesting depth of 64 levels exceeded',
    );
    expect(ann.ua.messages()).toHaveLength(1);
  });

  it('dispatches the same Message-ID once', async () => {
    const id = unique();
    const ann = await registered(`ann-${id}`);
    const group = aor(`dup-${id}`);
    const inbound = `dup-${id}@alerts.example.com`;
    await system.cli(
      'groups',
      'set',
      group,
      '--members',
      ann.aor,
      '--routing',
      'all',
      '--email',
      inbound,
      '--alert-senders',
      'nagios@mon.example.org',
    );
    const mail = (messageId: string, subject: string) =>
      rawMail(
        { From: 'nagios@mon.example.org', To: inbound, Subject: subject, 'Message-ID': messageId },
        'body',
      );
    expect(
      (await sendMail(system.smtpPort, 'nagios@mon.example.org', [inbound], mail(`<one-${id}@m>`, 'first')))
        .code,
    ).toBe(250);
    const again = await sendMail(
      system.smtpPort,
      'nagios@mon.example.org',
      [inbound],
      mail(`<one-${id}@m>`, 'first'),
    );
    expect(again.code).toBe(250);
    // a later, different mail: once it is there, the duplicate would have been too
    expect(
      (await sendMail(system.smtpPort, 'nagios@mon.example.org', [inbound], mail(`<two-${id}@m>`, 'second')))
        .code,
    ).toBe(250);
    await waitUntil('the second alert', () =>
      ann.ua.messages().some((message) => message.body.startsWith('second')) ? true : undefined,
    );
    expect(ann.ua.messages().map((message) => message.body.split('\n')[0])).toEqual(['first', 'second']);
    expect((await alertsOf(group)).map((alert) => alert.subject)).toEqual(['second', 'first']);
  });

  it('drops a copy that expired undelivered (the default), and records it', async () => {
    const id = unique();
    const away = aor(`away-${id}`);
    // the member holds for 2 s only, and has a mailbox: the group's policy still drops the alert
    await system.cli('settings', away, '--expire-after', '2s', '--email', `away-${id}@example.org`);
    const group = aor(`night-${id}`);
    const inbound = `night-${id}@alerts.example.com`;
    await system.cli(
      'groups',
      'set',
      group,
      '--members',
      away,
      '--routing',
      'all',
      '--email',
      inbound,
      '--alert-senders',
      '@mon.example.org',
    );
    const sent = await sendMail(
      system.smtpPort,
      'cron@mon.example.org',
      [inbound],
      rawMail(
        { From: 'cron@mon.example.org', To: inbound, Subject: `nightly ${id}`, 'Message-ID': `<n-${id}@m>` },
        'done',
      ),
    );
    expect(sent.code, sent.text).toBe(250);
    const outcome = await waitUntil(
      'the copy dropped',
      async () => {
        const member = (await alertsOf(group))[0]?.members[0];
        return member?.outcome === 'dropped' ? member : undefined;
      },
      20_000,
    );
    expect(outcome.member).toBe(away);
    expect(await heldFor(system, away)).toEqual([]);
    // no digest went to the member's mailbox (the SES stand-in's list of sent mail)
    const store = await fetch(`http://127.0.0.1:${system.sesPort}/store`);
    expect(store.ok).toBe(true);
    const { emails } = (await store.json()) as { emails: Array<{ destination: { to: string[] } }> };
    expect(emails.filter((email) => email.destination.to.includes(`away-${id}@example.org`))).toEqual([]);
  });

  it('lists alerts on GET /v1/alerts for operators and admins only', async () => {
    const url = `${system.apiUrl}/v1/alerts?limit=5`;
    expect((await fetch(url)).status).toBe(401);
    const user = `uma-${unique()}`;
    const set = async (address: string, admin: boolean) =>
      system.cliWithInput(
        'uma-alerts-pw\n',
        'users',
        'set',
        address,
        '--password-stdin',
        ...(admin ? ['--admin'] : []),
      );
    await set(aor(user), false);
    const userToken = (await system.cli('token', aor(user))).trim();
    expect((await fetch(url, { headers: { authorization: `Bearer ${userToken}` } })).status).toBe(403);
    expect((await fetch(url, { headers: { authorization: 'Bearer not-a-token' } })).status).toBe(401);
    const admin = `ada-${unique()}`;
    await set(aor(admin), true);
    const adminToken = (await system.cli('token', aor(admin))).trim();
    const asAdmin = await fetch(url, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(asAdmin.status).toBe(200);
    expect(((await asAdmin.json()) as { alerts: unknown[] }).alerts.length).toBeGreaterThan(0);
    const signed = await signedFetch(
      system.secret,
      'GET',
      `${url}&group=${encodeURIComponent(aor('nobody'))}`,
    );
    expect(signed.status).toBe(200);
    expect(await signed.json()).toEqual({ alerts: [] });
  });
});

// End to end: what waits too long is emailed (one escaped digest per recipient per sweep), or
// bounced to its sender; vacation answers senders and emails at once. Real SES stand-in,
// sipp as the senders' UA where a sender must receive something.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { signedFetch } from '../support/signed.ts';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { sipp } from '../support/sipp.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';
import { TestUa, waitUntil } from '../support/ua.ts';

let system: RunningSystem;
const unique = () => randomBytes(4).toString('hex');

beforeAll(async () => {
  system = await startSystem({ env: { HOLDOVER_EXPIRE_AFTER: '2s', HOLDOVER_SWEEP_INTERVAL: '1s' } });
});
afterAll(async () => {
  await system?.stop();
});

interface StoredEmail {
  from: string;
  subject: string;
  destination: { to: string[] };
  body: { text: string; html: string };
}

async function emailsTo(address: string): Promise<StoredEmail[]> {
  const response = await fetch(`http://127.0.0.1:${system.sesPort}/store`).catch(() => undefined);
  if (!response?.ok) return [];
  const { emails } = (await response.json()) as { emails: StoredEmail[] };
  return emails.filter((email) => email.destination.to.includes(address));
}

/** The sender's UA (sipp) that waits for one automatic MESSAGE back, answering 200. */
function senderUa(port: number) {
  return sipp({
    scenario: 'message_uas.xml',
    localPort: port,
    calls: 1,
    traceLogs: true,
    timeoutSeconds: 30,
    extraArgs: ['-set', 'accept', '1'],
  });
}

describe('expiry to email', () => {
  it('emails one digest with both messages in order, HTML escaped, and holds nothing after', async () => {
    const user = `carol-${unique()}`;
    const carol = `sip:${user}@example.com`;
    expect(
      (await sendUdp(system.sipPort, sipRequest({ to: carol, body: '<script>alert(1)</script> first' })))
        .status,
    ).toBe(202);
    expect(
      (await sendUdp(system.sipPort, sipRequest({ to: carol, body: 'zweite: Grüße aus Köln 🎉' }))).status,
    ).toBe(202);
    const [email, ...more] = await waitUntil('the digest', async () => {
      const found = await emailsTo(`${user}@example.com`);
      return found.length > 0 ? found : undefined;
    });
    expect(more).toEqual([]);
    expect(email?.subject).toBe('2 messages while you were away');
    expect(email?.from).toContain('holdover@example.com');
    const text = email?.body.text ?? '';
    expect(text.indexOf('<script>alert(1)</script> first')).toBeLessThan(
      text.indexOf('zweite: Grüße aus Köln 🎉'),
    );
    expect(email?.body.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; first');
    expect(email?.body.html).not.toContain('<script>');
    await waitUntil('nothing held', async () =>
      (await heldFor(system, carol)).length === 0 ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await emailsTo(`${user}@example.com`)).toHaveLength(1); // once
  });

  it('keeps messages while SES is down and emails them once it is back', async () => {
    const user = `dora-${unique()}`;
    const dora = `sip:${user}@example.com`;
    const runtime = JSON.parse(readFileSync(join(system.dataDir, 'runtime.json'), 'utf8')) as {
      sesPid: number;
    };
    process.kill(runtime.sesPid, 'SIGKILL');
    expect((await sendUdp(system.sipPort, sipRequest({ to: dora, body: 'survives an outage' }))).status).toBe(
      202,
    );
    await waitUntil('the message claimed for email', async () =>
      (await heldFor(system, dora))[0]?.state === 'expiring' ? true : undefined,
    );
    await waitUntil('a failed email attempt', () =>
      system.output().includes('email not sent') ? true : undefined,
    );
    // kept, claimed for email, while SES is down
    expect((await heldFor(system, dora)).map((m) => m.state)).toEqual(['expiring']);
    const [email] = await waitUntil(
      'the email after SES is back',
      async () => {
        const found = await emailsTo(`${user}@example.com`);
        return found.length > 0 ? found : undefined;
      },
      60_000,
    );
    expect(email?.body.text).toContain('survives an outage');
    await waitUntil('nothing held', async () =>
      (await heldFor(system, dora)).length === 0 ? true : undefined,
    );
  });

  it('bounces to the sender instead when the user chose bounce', async () => {
    const user = `eve-${unique()}`;
    const eve = `sip:${user}@example.com`;
    await system.cli('settings', eve, '--on-expire', 'bounce');
    const uaPort = await freePort();
    const ua = senderUa(uaPort);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const request = sipRequest({
      to: eve,
      body: 'will bounce',
      extraHeaders: [`Contact: <sip:alice@127.0.0.1:${uaPort}>`],
    });
    expect((await sendUdp(system.sipPort, request)).status).toBe(202);
    const run = await ua;
    expect(run.code, run.errors + run.screen).toBe(0);
    const [line] = run.logs.split('\n').filter((entry) => entry.startsWith('RECV '));
    expect(line?.split('|')[2]?.trim()).toBe(eve);
    expect(line?.split('|')[4]).toContain('was not delivered');
    expect(await emailsTo(`${user}@example.com`)).toEqual([]);
    // deleted once the sender's UA answered the notice 2xx
    await waitUntil('nothing held once the sender was told', async () =>
      (await heldFor(system, eve)).length === 0 ? true : undefined,
    );
  });

  it('keeps a bounce whose notice the sender refuses, lists it as a dead letter, and purges it', async () => {
    const user = `gus-${unique()}`;
    const gus = `sip:${user}@example.com`;
    await system.cli('settings', gus, '--on-expire', 'bounce');
    // the sender's UA answers the notice 480 every time: retried with backoff, then failed for good
    const ua = new TestUa();
    ua.answer = () => 480;
    await ua.start();
    const request = sipRequest({
      to: gus,
      body: 'this one becomes a dead letter',
      extraHeaders: [`Contact: <${ua.contact}>`],
    });
    expect((await sendUdp(system.sipPort, request)).status).toBe(202);
    await waitUntil('bounced, kept while its notice is retried', async () =>
      (await heldFor(system, gus)).some((m) => m.state === 'bounced') ? true : undefined,
    );
    interface DeadView {
      id: string;
      from: string;
      to: string;
      body: string | null;
      reason: string;
    }
    const [letter] = await waitUntil(
      'the dead letter',
      async () => {
        const letters = (JSON.parse(await system.cli('dead', '--json')) as DeadView[]).filter(
          (entry) => entry.to === gus,
        );
        return letters.length > 0 ? letters : undefined;
      },
      90_000,
    ).finally(() => ua.close());
    expect(letter).toMatchObject({ to: gus, body: 'this one becomes a dead letter' });
    expect(letter?.reason).toMatch(/failed 4 times/);
    expect(await system.cli('dead')).toContain('this one becomes a dead letter');
    expect(new Set(ua.messages().map((m) => m.callId)).size).toBe(1); // one notice, tried 4 times
    expect(await system.cli('dead', 'purge', letter?.id ?? '')).toContain('Purged 1 dead letter');
    const after = JSON.parse(await system.cli('dead', '--json')) as DeadView[];
    expect(after.filter((entry) => entry.to === gus)).toEqual([]);
    expect(await heldFor(system, gus)).toEqual([]);
  }, 120_000);
});

describe('vacation', () => {
  it('answers the sender with the auto-reply once, and emails held messages at the next sweep', async () => {
    const user = `finn-${unique()}`;
    const finn = `sip:${user}@example.com`;
    const until = new Date(Date.now() + 86_400_000).toISOString();
    await system.cli(
      'settings',
      finn,
      '--vacation-until',
      until,
      '--auto-reply',
      'Back on Monday',
      '--expire-after',
      '7d',
    );
    const uaPort = await freePort();
    const ua = senderUa(uaPort);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const contact = `Contact: <sip:alice@127.0.0.1:${uaPort}>`;
    expect(
      (
        await sendUdp(
          system.sipPort,
          sipRequest({ to: finn, body: 'are you there?', extraHeaders: [contact] }),
        )
      ).status,
    ).toBe(202);
    expect(
      (await sendUdp(system.sipPort, sipRequest({ to: finn, body: 'hello again', extraHeaders: [contact] })))
        .status,
    ).toBe(202);
    const run = await ua;
    expect(run.code, run.errors + run.screen).toBe(0);
    const lines = run.logs.split('\n').filter((entry) => entry.startsWith('RECV '));
    expect(lines).toHaveLength(1); // once per sender per day
    expect(lines[0]?.split('|')[4]).toBe('Back on Monday');
    const [email] = await waitUntil('the vacation digest', async () => {
      const found = await emailsTo(`${user}@example.com`);
      return found.length > 0 ? found : undefined;
    });
    expect(email?.body.text).toContain('While you were on vacation');
    expect(email?.body.text).toContain('are you there?');
  });
});

describe('settings', () => {
  it('refuses invalid settings with a message naming each field', async () => {
    const body = JSON.stringify({ expireAfter: '3 days', hold: ['online'], email: 'nope' });
    const response = await signedFetch(
      system.secret,
      'PUT',
      `${system.apiUrl}/v1/users/${encodeURIComponent('sip:gil@example.com')}/settings`,
      body,
    );
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { message: string } };
    expect(error.message).toMatch(/expireAfter: must be a duration/);
    expect(error.message).toMatch(/hold: cannot hold while online/);
    expect(error.message).toMatch(/email: must be an email address/);
    await expect(system.cli('settings', 'sip:gil@example.com', '--expire-after', 'soon')).rejects.toThrow(
      /expireAfter must be a duration/,
    );
  });
});

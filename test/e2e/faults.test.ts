// The fault suite (docs/design.md "Message lifecycle"): each case drives the whole `npm start` system
// into one fault and counts every 202 against what was delivered, emailed, bounced or is still
// held, and prints those counts (one line per case).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { sipp } from '../support/sipp.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';
import { type Received, TestUa, waitUntil } from '../support/ua.ts';

const unique = () => randomBytes(4).toString('hex');
const aor = (user: string) => `sip:${user}@example.com`;

interface Counts {
  accepted: number;
  delivered: number;
  emailed: number;
  bounced: number;
  held: number;
  duplicates: number;
}

function report(name: string, counts: Counts): void {
  console.log(
    `fault ${name}: accepted=${counts.accepted} delivered=${counts.delivered} emailed=${counts.emailed} bounced=${counts.bounced} held=${counts.held} duplicates=${counts.duplicates}`,
  );
}

/** Delivered bodies in the order first received, and how many copies came more than once. */
function tally(messages: Received[]): { bodies: string[]; duplicates: number } {
  const bodies: string[] = [];
  const byCallId = new Map<string, string>();
  let duplicates = 0;
  for (const message of messages) {
    const seen = byCallId.get(message.callId);
    if (seen !== undefined) {
      expect(seen).toBe(message.body); // a copy sent again carries the same Call-ID
      duplicates++;
      continue;
    }
    byCallId.set(message.callId, message.body);
    bodies.push(message.body);
  }
  return { bodies, duplicates };
}

async function emailsTo(system: RunningSystem, address: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${system.sesPort}/store`).catch(() => undefined);
  if (!response?.ok) return 0;
  const { emails } = (await response.json()) as { emails: Array<{ destination: { to: string[] } }> };
  return emails.filter((email) => email.destination.to.includes(address)).length;
}

/** How many processes have `text` in their command line (pgrep -f). */
function processesNaming(text: string): number {
  try {
    return execFileSync('pgrep', ['-f', text], { encoding: 'utf8' }).trim().split('\n').length;
  } catch {
    return 0; // pgrep exits 1 when none matches
  }
}

async function stats(system: RunningSystem): Promise<Record<string, number>> {
  return (JSON.parse(await system.cli('stats', '--json')) as { byState: Record<string, number> }).byState;
}

async function capture(system: RunningSystem, to: string, body: string, from?: string): Promise<number> {
  return sendUdp(system.sipPort, sipRequest({ to, body, ...(from ? { from } : {}) }), 4000).then(
    (response) => response.status,
    () => 0,
  );
}

describe('faults on one running system', () => {
  let system: RunningSystem;

  beforeAll(async () => {
    system = await startSystem({
      env: {
        DELIVERY_TIMEOUT: '3s',
        // The UAs send from 127.0.0.1, trusted as a proxy that authenticated its users would be:
        // this suite is about faults; digest authentication is test/e2e/auth.test.ts.
        HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32',
      },
    });
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('(a) a tel: sender in the middle of a backlog of 4: all 4 delivered in order', async () => {
    const user = `tel-${unique()}`;
    const bodies = ['a1 from alice', 'a2 from a phone', 'a3 from im', 'a4 from alice'];
    const senders = [
      'sip:alice@example.com',
      'tel:+15551234',
      'im:carol@example.org',
      'sip:alice@example.com',
    ];
    const run = await sipp({
      scenario: 'message_from_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 4,
      inject: bodies.map((body, i) => `${user};${body};Sender ${i + 1};${senders[i]}`),
      extraArgs: ['-l', '1'], // one after another: the capture order is the backlog's order
    });
    expect(run.code, run.errors.slice(0, 1500)).toBe(0);
    const accepted = (await heldFor(system, aor(user))).length;
    expect(accepted).toBe(4);

    const ua = new TestUa();
    await ua.start();
    try {
      expect((await ua.register(system.sipPort, aor(user))).status).toBe(200);
      await waitUntil('all 4 delivered', () => (ua.messages().length >= 4 ? true : undefined), 20_000);
      await waitUntil('nothing held', async () =>
        (await heldFor(system, aor(user))).length === 0 ? true : undefined,
      );
      const { bodies: delivered, duplicates } = tally(ua.messages());
      expect(delivered.map((body) => body.trimEnd())).toEqual(bodies);
      expect(ua.messages()[1]?.from).toMatch(/<sip:\+15551234@example\.com;user=phone>/);
      expect(ua.messages()[2]?.from).toMatch(/<sip:carol@example\.org>/);
      report('a tel-sender-in-backlog', {
        accepted,
        delivered: delivered.length,
        emailed: await emailsTo(system, `${user}@example.com`),
        bounced: 0,
        held: (await heldFor(system, aor(user))).length,
        duplicates,
      });
    } finally {
      ua.close();
    }
  });

  it('(a′) the UA refuses the tel: one (488): it alone is bounced to its sender, the other 3 delivered in order', async () => {
    const user = `refuse-${unique()}`;
    const sender = new TestUa();
    const ua = new TestUa();
    await Promise.all([sender.start(), ua.start()]);
    try {
      const bodies = ['r1', 'r2 from a phone', 'r3', 'r4'];
      let accepted = 0;
      for (const [i, body] of bodies.entries()) {
        const phone = i === 1;
        const status = (
          await sendUdp(
            system.sipPort,
            sipRequest({
              to: aor(user),
              body,
              from: phone ? 'tel:+15557654' : 'sip:alice@example.com',
              extraHeaders: phone ? [`Contact: <${sender.contact}>`] : [],
            }),
          )
        ).status;
        if (status === 202) accepted++;
      }
      expect(accepted).toBe(4);
      ua.answer = (index) => (index === 1 ? 488 : 200);
      expect((await ua.register(system.sipPort, aor(user))).status).toBe(200);
      await waitUntil('4 attempts', () => (ua.messages().length >= 4 ? true : undefined), 20_000);
      const bounce = await waitUntil('the bounce at the tel: sender', () => sender.messages()[0], 20_000);
      expect(bounce.body).toMatch(/could not be delivered \(488/);
      await waitUntil('nothing held', async () =>
        (await heldFor(system, aor(user))).length === 0 ? true : undefined,
      );
      const { bodies: attempted, duplicates } = tally(ua.messages());
      expect(attempted).toEqual(bodies);
      report('a′ refused-one-bounced-alone', {
        accepted,
        delivered: attempted.filter((body) => body !== 'r2 from a phone').length,
        emailed: await emailsTo(system, `${user}@example.com`),
        bounced: sender.messages().length,
        held: (await heldFor(system, aor(user))).length,
        duplicates,
      });
    } finally {
      sender.close();
      ua.close();
    }
  });

  it('(b) kill -9 of the edge mid-batch: each message arrives, at most once more with the same Call-ID, in order', async () => {
    const user = `crash-${unique()}`;
    const count = 40;
    const bodies = Array.from({ length: count }, (_, i) => `b${String(i + 1).padStart(2, '0')}`);
    let accepted = 0;
    for (const body of bodies) if ((await capture(system, aor(user), body)) === 202) accepted++;
    expect(accepted).toBe(count);
    const ua = new TestUa();
    await ua.start();
    ua.delayMs = 20;
    try {
      expect((await ua.register(system.sipPort, aor(user))).status).toBe(200);
      await waitUntil('delivery under way', () => (ua.messages().length >= 10 ? true : undefined));
      process.kill(system.runtime().edgePid, 'SIGKILL');
      await waitUntil(
        'nothing held',
        async () => ((await heldFor(system, aor(user))).length === 0 ? true : undefined),
        60_000,
      );
      const { bodies: delivered, duplicates } = tally(ua.messages());
      expect(delivered).toEqual(bodies);
      expect(duplicates).toBeLessThanOrEqual(1);
      expect(system.output()).toContain('SIP edge stopped unexpectedly (SIGKILL); restarting it');
      report('b edge-killed-mid-batch', {
        accepted,
        delivered: delivered.length,
        emailed: await emailsTo(system, `${user}@example.com`),
        bounced: 0,
        held: (await heldFor(system, aor(user))).length,
        duplicates,
      });
    } finally {
      ua.close();
    }
  });

  it("(e) a notice to a sender who never answers (Timer F) does not hold back another user's delivery", async () => {
    const silentSender = new TestUa();
    const pat = new TestUa();
    const quinn = new TestUa();
    await Promise.all([silentSender.start(), pat.start(), quinn.start()]);
    silentSender.delayMs = 60_000; // answers nothing while the test runs: the notice waits for Timer F
    try {
      const patAor = aor(`pat-${unique()}`);
      const quinnAor = aor(`quinn-${unique()}`);
      let accepted = 0;
      if ((await capture(system, quinnAor, 'for quinn')) === 202) accepted++;
      const toPat = sipRequest({
        to: patAor,
        body: 'for pat',
        from: 'sip:slow@example.com',
        extraHeaders: [`Contact: <${silentSender.contact}>`],
      });
      if ((await sendUdp(system.sipPort, toPat)).status === 202) accepted++;
      expect(accepted).toBe(2);
      pat.answer = () => 488; // refused: a bounce notice goes to the silent sender
      expect((await pat.register(system.sipPort, patAor)).status).toBe(200);
      await waitUntil('the notice in flight', () => silentSender.messages()[0], 10_000);
      const noticeStarted = Date.now();
      expect((await quinn.register(system.sipPort, quinnAor)).status).toBe(200);
      await waitUntil("quinn's message", () => quinn.messages()[0], 10_000);
      const quinnWaitedMs = Date.now() - noticeStarted;
      console.log(
        `fault e: quinn's message arrived ${quinnWaitedMs} ms into a notice waiting 3 s for Timer F`,
      );
      // the notice's transaction lasts DELIVERY_TIMEOUT (3 s): quinn's delivery did not wait for it
      expect(quinnWaitedMs).toBeLessThan(3000);
      report('e slow-notice-does-not-block', {
        accepted,
        delivered: quinn.messages().length,
        emailed: 0,
        bounced: 1,
        held: (await heldFor(system, quinnAor)).length + (await heldFor(system, patAor)).length,
        duplicates: tally(quinn.messages()).duplicates,
      });
    } finally {
      silentSender.close();
      pat.close();
      quinn.close();
    }
  });

  it('(d) 50 REGISTER→MESSAGE pairs back to back: none still pending 5 s later', async () => {
    const ua = new TestUa();
    await ua.start();
    try {
      const users = Array.from({ length: 50 }, (_, i) => aor(`race${i}-${unique()}`));
      const pendingBefore = (await stats(system)).pending ?? 0;
      let accepted = 0;
      for (const [i, user] of users.entries()) {
        expect((await ua.register(system.sipPort, user)).status).toBe(200);
        if ((await capture(system, user, `race ${i}`)) === 202) accepted++;
      }
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const { bodies: delivered, duplicates } = tally(ua.messages());
      // what is still held for these users: by state, all recipients together, less what was
      // held before this case (the other cases' users)
      const pendingNow = (await stats(system)).pending ?? 0;
      const pending = pendingNow - pendingBefore;
      report('d register-message-race', {
        accepted,
        delivered: delivered.length,
        emailed: 0,
        bounced: 0,
        held: pending,
        duplicates,
      });
      expect(accepted).toBe(50);
      expect(pending).toBe(0);
      expect(delivered).toHaveLength(50);
    } finally {
      ua.close();
    }
  });
});

describe('the store dies (DynamoDB Local: HOLDOVER_STORE=dynamodb)', () => {
  let system: RunningSystem;

  beforeAll(async () => {
    system = await startSystem({
      env: { HOLDOVER_STORE: 'dynamodb', HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32' },
    });
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('(c) kill -9 of the store (DynamoDB Local) and of the SES stand-in: 202 again within 10 s, nothing accepted lost', async () => {
    const user = `store-${unique()}`;
    const acceptedBodies: string[] = [];
    let refused = 0;
    let n = 0;
    const send = async () => {
      const body = `c${++n}`;
      const status = await capture(system, aor(user), body);
      if (status === 202) acceptedBodies.push(body);
      else refused++;
      return status;
    };
    for (let i = 0; i < 3; i++) expect(await send()).toBe(202);
    // DynamoDB Local answers a TransactWriteItems before its SQLite transaction is committed: a
    // kill -9 within ~100 ms of the answer rolls the last one back (DynamoDB Local's limit, shown
    // with raw TransactWriteItems too; DynamoDB itself is durable once it answers). The store
    // crash is therefore made a moment after the last capture.
    await new Promise((resolve) => setTimeout(resolve, 500));

    process.kill(system.runtime().dynamodbPid ?? 0, 'SIGKILL');
    const killed = Date.now();
    await waitUntil(
      'health to name the store as down',
      async () => {
        const response = await fetch(`${system.apiUrl}/v1/health`);
        const health = (await response.json()) as { parts?: Record<string, string> };
        return response.status === 503 && health.parts?.dynamodb === 'down' ? true : undefined;
      },
      5000,
    );
    await waitUntil(
      'a 202 again after the store died',
      async () => ((await send()) === 202 ? true : undefined),
      10_000,
    );
    const storeBackMs = Date.now() - killed;
    expect(storeBackMs).toBeLessThan(10_000);

    process.kill(system.runtime().sesPid, 'SIGKILL');
    const sesKilled = Date.now();
    // an email-side fault never stops capture
    for (let i = 0; i < 3; i++) expect(await send()).toBe(202);
    const health = await fetch(`${system.apiUrl}/v1/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { parts: Record<string, string> }).parts.ses).toBe('down');
    await waitUntil(
      'the SES stand-in back',
      async () => ((await fetch(`${system.apiUrl}/v1/health`)).status === 200 ? true : undefined),
      20_000,
    );
    expect(await send()).toBe(202);

    const held = (await heldFor(system, aor(user))).map((message) => message.body);
    for (const body of acceptedBodies) expect(held).toContain(body); // nothing accepted is lost
    console.log(
      `fault c: store answered 202 again ${(storeBackMs / 1000).toFixed(1)} s after kill -9 (${refused} MESSAGEs refused with 503 meanwhile); SES back after ${((Date.now() - sesKilled) / 1000).toFixed(1)} s`,
    );
    report('c store-and-ses-killed', {
      accepted: acceptedBodies.length,
      delivered: 0,
      emailed: await emailsTo(system, `${user}@example.com`),
      bounced: 0,
      held: held.length,
      duplicates: held.length - new Set(held).size,
    });
  });
});

describe('the store dies (SQLite, the default: it is in the process)', () => {
  it('(c′) kill -9 of the whole system right after the 202s: every accepted message is there after the restart', async () => {
    const user = `durable-${unique()}`;
    const first = await startSystem({ detached: true, keepData: true });
    const accepted: string[] = [];
    try {
      // fired together: the kill comes a moment after the last 202, with commits just done
      const statuses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => capture(first, aor(user), `d${i + 1}`)),
      );
      statuses.forEach((status, i) => {
        if (status === 202) accepted.push(`d${i + 1}`);
      });
      expect(accepted.length).toBeGreaterThan(0);
      // SIGKILL to the process group: the API with its SQLite connection, the edge, the SES stand-in
      expect(await first.interrupt('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    } finally {
      await first.stop();
    }
    const second = await startSystem({ dataDir: first.dataDir });
    try {
      const held = (await heldFor(second, aor(user))).map((message) => message.body);
      for (const body of accepted) expect(held).toContain(body); // durable on commit: nothing lost
      report('c′ sqlite-process-killed', {
        accepted: accepted.length,
        delivered: 0,
        emailed: 0,
        bounced: 0,
        held: held.length,
        duplicates: held.length - new Set(held).size,
      });
    } finally {
      await second.stop();
    }
  });
});

describe('Ctrl-C', () => {
  it('stops everything cleanly every time: children gone, runtime.json removed, exit code 0', async () => {
    const tries: Array<{ signal: NodeJS.Signals; busy: boolean }> = [
      { signal: 'SIGINT', busy: false },
      { signal: 'SIGINT', busy: true },
      { signal: 'SIGTERM', busy: true },
    ];
    // once while it is still starting its stand-ins
    {
      const system = await startSystem({ detached: true, returnEarly: true });
      try {
        await new Promise((resolve) => setTimeout(resolve, 700));
        const exit = await system.interrupt('SIGINT');
        console.log(`ctrl-c try 0 (SIGINT while starting): exit ${exit.code}`);
        expect(exit).toEqual({ code: 0, signal: null });
        expect(existsSync(join(system.dataDir, 'runtime.json'))).toBe(false);
        // DynamoDB Local's java names the data directory in its arguments
        await waitUntil(
          'no child left',
          () => (processesNaming(system.dataDir) === 0 ? true : undefined),
          5000,
        );
      } finally {
        await system.stop();
      }
    }
    for (const [index, attempt] of tries.entries()) {
      // its UA registers from 127.0.0.1, trusted as a proxy (digest auth: test/e2e/auth.test.ts)
      const system = await startSystem({ detached: true, env: { HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32' } });
      const runtime = system.runtime();
      // on the default store (SQLite) there is no DynamoDB Local nor SQS stand-in to stop
      expect([runtime.edgePid, runtime.sesPid].every((pid) => typeof pid === 'number')).toBe(true);
      const children = [runtime.edgePid, runtime.sesPid, runtime.dynamodbPid, runtime.sqsPid].filter(
        (pid): pid is number => typeof pid === 'number',
      );
      let ua: TestUa | undefined;
      try {
        if (attempt.busy) {
          // a delivery to a UA that never answers is in flight (Timer F), and a capture just happened
          ua = new TestUa();
          await ua.start();
          ua.delayMs = 60_000;
          const user = aor(`ctrlc-${unique()}`);
          expect(await capture(system, user, 'in flight')).toBe(202);
          expect((await ua.register(system.sipPort, user)).status).toBe(200);
          await waitUntil('the MESSAGE in flight', () => (ua?.messages().length ? true : undefined), 10_000);
        }
        const started = Date.now();
        const exit = await system.interrupt(attempt.signal);
        console.log(
          `ctrl-c try ${index + 1} (${attempt.signal}${attempt.busy ? ', delivery in flight' : ''}): exit ${exit.code} after ${Date.now() - started} ms`,
        );
        expect(exit).toEqual({ code: 0, signal: null });
        expect(existsSync(join(system.dataDir, 'runtime.json'))).toBe(false);
        await waitUntil(
          'every child gone',
          () =>
            children.every((pid) => {
              try {
                process.kill(pid, 0);
                return false;
              } catch {
                return true;
              }
            })
              ? true
              : undefined,
          5000,
        );
        expect(system.output()).toContain('holdover: stopped');
      } finally {
        ua?.close();
        await system.stop();
      }
    }
  });
});

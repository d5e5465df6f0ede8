// The web console in a real browser (Debian's chromium driven by playwright-core) against the
// whole local system: a person signs in with the SIP password, sees what sipp left for them
// (attacker-controlled text shown as text), sets a vacation and the auto-reply reaches a sender
// (sipp as the sender's UA), fixes a settings mistake shown in place, signs out; an admin sees the
// overview. Screenshots of each page: docs/console-*.png (shown in the README) with
// HOLDOVER_SCREENSHOTS_DIR=docs.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { sipp } from '../support/sipp.ts';
import { rawMail, sendMail } from '../support/smtp.ts';
import { type RunningSystem, setPassword, startSystem } from '../support/system.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Screenshots go to a temporary directory, or where HOLDOVER_SCREENSHOTS_DIR says (`docs` to
// refresh the README's), so a test run leaves the working tree as it was.
const docs = process.env.HOLDOVER_SCREENSHOTS_DIR
  ? resolve(process.env.HOLDOVER_SCREENSHOTS_DIR)
  : mkdtempSync(join(tmpdir(), 'holdover-screenshots-'));
let system: RunningSystem;
let browser: BrowserContext;
let profile: string;
const unique = () => randomBytes(4).toString('hex');

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  system = await startSystem();
  profile = mkdtempSync(join(tmpdir(), 'holdover-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 760 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (!process.env.HOLDOVER_SCREENSHOTS_DIR) rmSync(docs, { recursive: true, force: true });
  await system?.stop();
});

/** A fresh tab (its own sessionStorage) that fails the test on any dialog or page error. */
async function tab(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[0134]/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  return { page, problems };
}

async function signIn(page: Page, aor: string, password: string, screenshot?: string): Promise<void> {
  await page.goto(system.apiUrl);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('SIP address').fill(aor);
  await page.getByLabel('Password').fill(password);
  if (screenshot) await page.screenshot({ path: join(docs, screenshot) });
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Messages waiting for you' }).waitFor();
}

describe('the console for a user', () => {
  it('signs in, shows held messages as text, sets a vacation whose auto-reply reaches the sender, signs out', async () => {
    const user = `bob-${unique()}`;
    const bob = `sip:${user}@example.com`;
    await setPassword(system, bob, 'bob-console-pw');
    const sent = await sipp({
      scenario: 'message_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 2,
      inject: [
        `${user};Lunch at noon?;Alice Example;alice`,
        `${user};<script>alert(1)</script>;<img src=x onerror=alert(2)>;mallory`,
      ],
    });
    expect(sent.errors).toBe('');
    expect(sent.code).toBe(0);

    const { page, problems } = await tab();
    await signIn(page, bob, 'bob-console-pw', 'console-sign-in.png');
    const rows = page.locator('#messages-body tr');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await page.title()).toBe('(2) Messages · Holdover');
    expect((await rows.nth(0).locator('td').allTextContents()).map((text) => text.trim())).toEqual([
      `Alice Example <sip:alice@example.com>`,
      expect.any(String),
      'Lunch at noon?',
      expect.any(String),
      'pending',
    ]);
    // attacker-controlled text and display name are shown, not run or rendered
    expect((await rows.nth(1).locator('td').nth(2).textContent())?.trim()).toBe('<script>alert(1)</script>');
    expect((await rows.nth(1).locator('td').nth(0).textContent())?.trim()).toBe(
      '<img src=x onerror=alert(2)> <sip:mallory@example.com>',
    );
    expect(await page.locator('#messages-body script, #messages-body img').count()).toBe(0);
    await page.screenshot({ path: join(docs, 'console-messages.png'), fullPage: true });

    // settings: a mistake is shown next to its field, then a vacation is saved
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'My settings' }).waitFor();
    await expect.poll(() => page.getByRole('checkbox', { name: 'offline' }).isChecked()).toBe(true);
    await page.getByLabel('Expire after').fill('3 days');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(() => page.locator('#error-expireAfter').textContent()).toMatch(/must be a duration/);
    expect(await page.getByLabel('Expire after').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate('document.activeElement?.id')).toBe('field-expireAfter');
    await page.screenshot({ path: join(docs, 'console-settings-error.png'), fullPage: true });
    await page.getByLabel('Expire after').fill('7d');
    await page.getByRole('checkbox', { name: 'be right back' }).uncheck();
    const until = new Date(Date.now() + 3 * 86_400_000);
    const local = new Date(until.getTime() - until.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.getByLabel('Until').fill(local);
    await page.getByLabel('Auto-reply').fill('On vacation, back on Monday');
    await page.getByLabel('Time zone').fill('Europe/Berlin');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toBe('Settings saved.');
    await page.screenshot({ path: join(docs, 'console-settings.png'), fullPage: true });
    const stored = JSON.parse(await system.cli('settings', bob, '--json'));
    expect(stored).toMatchObject({
      expireAfter: '7d',
      hold: ['offline', 'busy', 'dnd', 'away'],
      timeZone: 'Europe/Berlin',
      vacation: { autoReply: 'On vacation, back on Monday' },
    });

    // the auto-reply reaches a sender's UA (sipp)
    const uaPort = await freePort();
    const ua = sipp({
      scenario: 'message_uas.xml',
      localPort: uaPort,
      calls: 1,
      traceLogs: true,
      timeoutSeconds: 30,
      extraArgs: ['-set', 'accept', '1'],
    });
    await new Promise((r) => setTimeout(r, 300));
    const answer = await sendUdp(
      system.sipPort,
      sipRequest({
        to: bob,
        from: 'sip:carol@example.com',
        body: 'are you there?',
        extraHeaders: [`Contact: <sip:carol@127.0.0.1:${uaPort}>`],
      }),
    );
    expect(answer.status).toBe(202);
    const received = await ua;
    expect(received.code, received.errors + received.screen).toBe(0);
    const [line] = received.logs.split('\n').filter((entry) => entry.startsWith('RECV '));
    expect(line?.split('|')[4]).toBe('On vacation, back on Monday');

    // sign out: back to the sign-in page, and the token no longer works
    const token = await page.evaluate("JSON.parse(sessionStorage.getItem('holdover.session')).token");
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate("sessionStorage.getItem('holdover.session')")).toBeNull();
    const after = await fetch(`${system.apiUrl}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(after.status).toBe(401);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('says so on a wrong password, and slows down repeated failures', async () => {
    const user = `dora-${unique()}`;
    await setPassword(system, `sip:${user}@example.com`, 'dora-console-pw');
    const { page } = await tab();
    await page.goto(system.apiUrl);
    for (let i = 0; i < 5; i++) {
      await page.getByLabel('SIP address').fill(`sip:${user}@example.com`);
      await page.getByLabel('Password').fill('not her password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect
        .poll(() => page.getByRole('alert').first().textContent())
        .toMatch(/Wrong address or password/);
      await page.evaluate("document.getElementById('sign-in-error').textContent = ''");
    }
    await page.getByLabel('Password').fill('dora-console-pw');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => page.locator('#sign-in-error').textContent())
      .toMatch(/Too many failed attempts: wait/);
    await page.close();
  });
});

describe('the CLI for scripts', () => {
  it('mints a user token (npx holdover token) that reaches that user’s data only, and tells its version', async () => {
    const user = `tess-${unique()}`;
    const tess = `sip:${user}@example.com`;
    await setPassword(system, tess, 'tess-console-pw');
    const token = (await system.cli('token', tess)).trim();
    const me = await fetch(`${system.apiUrl}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { aor: string }).aor).toBe(tess);
    const stats = await fetch(`${system.apiUrl}/v1/stats`, { headers: { authorization: `Bearer ${token}` } });
    expect(stats.status).toBe(403);
    expect(await system.cli('--version')).toMatch(/^holdover \d+\.\d+\.\d+/);
    const missing = await system.cliWithInput('', 'token');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/token needs an address, e.g. holdover token sip:bob@example.com/);
  });
});

describe('the console for an admin', () => {
  it('shows the overview: counts by state, oldest held, users, and one user’s count', async () => {
    const admin = `ada-${unique()}`;
    const run = await system.cliWithInput(
      'ada-console-pw\n',
      'users',
      'set',
      `sip:${admin}@example.com`,
      '--password-stdin',
      '--admin',
    );
    expect(run.code, run.stderr).toBe(0);
    const held = `hal-${unique()}`;
    await setPassword(system, `sip:${held}@example.com`, 'hal-console-pw');
    expect(
      (await sendUdp(system.sipPort, sipRequest({ to: `sip:${held}@example.com`, body: 'for hal' }))).status,
    ).toBe(202);
    // an alert from email to a group with hal in it: the overview lists it with hal's outcome
    const team = `team-${unique()}`;
    await system.cli(
      'groups',
      'set',
      `sip:${team}@example.com`,
      '--members',
      `sip:${held}@example.com`,
      '--routing',
      'all',
      '--email',
      `${team}@alerts.example.com`,
      '--alert-senders',
      '@mon.example.org',
    );
    const mailed = await sendMail(
      system.smtpPort,
      'nagios@mon.example.org',
      [`${team}@alerts.example.com`],
      rawMail({ From: 'nagios@mon.example.org', Subject: '<b>Disk</b> full' }, 'db1'),
    );
    expect(mailed.code, mailed.text).toBe(250);

    const { page, problems } = await tab();
    await signIn(page, `sip:${admin}@example.com`, 'ada-console-pw');
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await expect.poll(() => page.locator('#overview-counts').textContent()).toMatch(/pending\d+/);
    expect(await page.locator('#overview-counts').textContent()).toMatch(/oldest held/);
    await expect.poll(() => page.locator('#overview-counts').textContent()).toMatch(/dead letters\d+/);
    await expect.poll(() => page.locator('#users-body').textContent()).toContain(`sip:${held}@example.com`);
    await page.getByLabel('Find a user').fill(`sip:${held}@example.com`);
    await page.getByRole('button', { name: 'Find' }).click();
    await expect
      .poll(() => page.locator('#find-user-result').textContent())
      .toBe(`sip:${held}@example.com: 2 messages held.`);
    // the mail's subject shown as text, never as markup
    await expect.poll(() => page.locator('#alerts-body').textContent()).toContain('<b>Disk</b> full');
    expect(await page.locator('#alerts-body').textContent()).toContain(`sip:${held}@example.com: held`);
    expect(await page.locator('#alerts-body b').count()).toBe(0);
    await page.screenshot({ path: join(docs, 'console-overview.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('serves the page with a strict Content-Security-Policy and nosniff; a user sees no overview', async () => {
    const page = await fetch(`${system.apiUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await page.text()).not.toMatch(/<script>[^<]/); // no inline script
    const user = `ulla-${unique()}`;
    await setPassword(system, `sip:${user}@example.com`, 'ulla-console-pw');
    const { page: tabPage } = await tab();
    await signIn(tabPage, `sip:${user}@example.com`, 'ulla-console-pw');
    expect(await tabPage.getByRole('link', { name: 'Overview' }).isVisible()).toBe(false);
    await tabPage.goto(`${system.apiUrl}/#overview`);
    await tabPage.getByRole('heading', { name: 'Messages waiting for you' }).waitFor();
    await tabPage.close();
  });
});

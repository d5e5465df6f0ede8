// Click-to-chat in a real browser (Debian's chromium driven by playwright-core): a shop's page on
// another origin, with a strict CSP of its own, embeds chat.js three times: a public user who is
// there (active), a public queue nobody is in (away: "leave a message"), and an address that is
// not public (na: the button disabled). A visitor chats with the user, whose UA is sipp (the line
// arrives From the visitor AOR, the answer shows up in the page); a visitor leaves a message for
// the queue, delivered once a member registers. Also the page Holdover serves itself, GET
// /chat/{aor}. Screenshots: docs/chat-*.png with HOLDOVER_SCREENSHOTS_DIR=docs.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { type SippRun, sipp } from '../support/sipp.ts';
import { type RunningSystem, startSystem } from '../support/system.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const docs = process.env.HOLDOVER_SCREENSHOTS_DIR
  ? resolve(process.env.HOLDOVER_SCREENSHOTS_DIR)
  : mkdtempSync(join(tmpdir(), 'holdover-screenshots-'));
const id = randomBytes(4).toString('hex');
const aor = (user: string) => `sip:${user}@example.com`;
const ANN = `ann-${id}`;
const QUEUE = aor(`sales-${id}`);
const LATE = `late-${id}`;
const HIDDEN = aor(`hidden-${id}`);

let system: RunningSystem;
let browser: BrowserContext;
let profile: string;
let shop: Server;
let shopUrl: string;
let annUa: Promise<SippRun>;

/** A member's UA: a sipp UAS that takes one MESSAGE, registered as `user`. */
async function registeredMember(user: string): Promise<{ received: Promise<SippRun> }> {
  const port = await freePort();
  const received = sipp({
    scenario: 'message_uas.xml',
    localPort: port,
    calls: 1,
    traceLogs: true,
    timeoutSeconds: 60,
    extraArgs: ['-set', 'accept', '1'],
  });
  await new Promise((resolve) => setTimeout(resolve, 300)); // sipp binds its port
  const registered = await sipp({
    scenario: 'register_uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    calls: 1,
    extraArgs: ['-s', user],
    keys: { uas_port: String(port), uas_transport: 'udp', expires: '300' },
  });
  expect(registered.code, registered.errors).toBe(0);
  return { received };
}

/** The shop's page: another origin, its own strict CSP, three widgets. */
function shopPage(api: string): string {
  const tag = (widget: string, to: string) =>
    `<h2>${widget}</h2><script id="w-${widget}" src="${api}/chat.js" data-holdover-to="${to}" defer></script>`;
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Example shop</title></head><body>',
    '<h1>Example shop</h1>',
    tag('active', aor(ANN)),
    tag('away', QUEUE),
    tag('na', HIDDEN),
    '</body></html>',
  ].join('\n');
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  system = await startSystem({ env: { DELIVERY_TIMEOUT: '3s', HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32' } });
  await system.cli('settings', aor(ANN), '--public');
  await system.cli(
    'groups',
    'set',
    QUEUE,
    '--members',
    `${aor(`gone-${id}`)},${aor(LATE)}`,
    '--routing',
    'one',
    '--public',
  );
  await system.cli('settings', HIDDEN, '--email', `hidden-${id}@example.com`);
  annUa = (await registeredMember(ANN)).received;

  const port = await freePort();
  shopUrl = `http://localhost:${port}/`;
  const page = shopPage(system.apiUrl);
  shop = createServer((_request, response) => {
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // the shop allows Holdover's script and API, nothing inline
      'content-security-policy': `default-src 'none'; script-src ${system.apiUrl}; connect-src ${system.apiUrl}`,
    });
    response.end(page);
  });
  await new Promise<void>((resolveListen) => shop.listen(port, '127.0.0.1', resolveListen));

  profile = mkdtempSync(join(tmpdir(), 'holdover-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 900, height: 900 },
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
  await new Promise((resolveClose) => (shop ? shop.close(resolveClose) : resolveClose(undefined)));
  if (!process.env.HOLDOVER_SCREENSHOTS_DIR) rmSync(docs, { recursive: true, force: true });
  await system?.stop();
});

async function openShop(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(shopUrl);
  return { page, problems };
}

const widget = (page: Page, name: string): Locator => page.locator(`#w-${name} + .holdover-chat`);

async function statusOf(page: Page, name: string): Promise<string | null> {
  return widget(page, name).getAttribute('data-status');
}

describe('chat.js on another site', () => {
  it('shows active, away (leave a message) and na (button disabled)', async () => {
    const { page, problems } = await openShop();
    await expect.poll(() => statusOf(page, 'active'), { timeout: 15_000 }).toBe('active');
    await expect.poll(() => statusOf(page, 'away'), { timeout: 15_000 }).toBe('away');
    await expect.poll(() => statusOf(page, 'na'), { timeout: 15_000 }).toBe('na');
    expect(await widget(page, 'active').locator('.status').textContent()).toBe('Available now');
    expect(await widget(page, 'away').locator('.status').textContent()).toBe(
      'Nobody is available — leave a message',
    );
    expect(await widget(page, 'active').getByRole('button', { name: 'Chat with us' }).isEnabled()).toBe(true);
    expect(await widget(page, 'away').getByRole('button', { name: 'Leave a message' }).isEnabled()).toBe(
      true,
    );
    expect(await widget(page, 'na').getByRole('button').isDisabled()).toBe(true);
    await page.screenshot({ path: join(docs, 'chat-status.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('runs a chat: the line reaches the sipp member From the visitor AOR, the answer shows in the page', async () => {
    const { page, problems } = await openShop();
    const chat = widget(page, 'active');
    await expect.poll(() => statusOf(page, 'active'), { timeout: 15_000 }).toBe('active');
    await chat.getByRole('button', { name: 'Chat with us' }).click();
    await chat.getByLabel('Your name').fill('Vera <Visitor>');
    await chat.getByRole('button', { name: 'Start chat' }).click();
    await chat.getByLabel('Your message').fill('Is the <b>blue</b> one in stock?');
    await chat.getByLabel('Your message').press('Enter');

    const got = await annUa;
    expect(got.code, got.errors.slice(0, 1500) + got.screen).toBe(0);
    const visitor = /\|(sip:chat-[a-z2-7]{26}@example\.com)\|/.exec(got.logs)?.[1];
    expect(visitor, got.logs).toBeDefined();
    expect(got.logs).toContain('Is the <b>blue</b> one in stock?');
    await expect
      .poll(() => chat.locator('li.mine').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('delivered');

    const answered = await sipp({
      scenario: 'chat_answer_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 1,
      inject: [`${visitor?.slice(4, visitor.indexOf('@'))};Yes <i>two</i> left!;Ann from Sales;${ANN}`],
      timeoutSeconds: 15,
    });
    expect(answered.code, answered.errors.slice(0, 1500)).toBe(0);
    const theirs = chat.locator('li.theirs');
    await expect.poll(() => theirs.count(), { timeout: 25_000 }).toBe(1);
    expect(await theirs.locator('.who').textContent()).toBe('Ann from Sales');
    expect(await theirs.textContent()).toContain('Yes <i>two</i> left!');
    // text stays text: nothing the visitor or the member wrote became markup
    expect(await chat.locator('li b, li i').count()).toBe(0);
    await page.screenshot({ path: join(docs, 'chat-conversation.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('leaves a message while nobody is available; it is delivered when a member registers', async () => {
    const { page, problems } = await openShop();
    const chat = widget(page, 'away');
    await expect.poll(() => statusOf(page, 'away'), { timeout: 15_000 }).toBe('away');
    await chat.getByRole('button', { name: 'Leave a message' }).click();
    await chat.getByLabel('Your name').fill('Walter');
    await chat.getByLabel(/Email/).fill(`walter-${id}@example.org`);
    await chat.getByRole('button', { name: 'Start chat' }).click();
    await chat.getByLabel('Your message').fill('Please call me back about the order');
    await chat.getByRole('button', { name: 'Send' }).click();
    await expect
      .poll(() => chat.locator('li.mine').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('held');
    expect(await chat.locator('.note').textContent()).toContain('Nobody is available right now');
    await page.screenshot({ path: join(docs, 'chat-leave-message.png'), fullPage: true });

    const late = await registeredMember(LATE);
    const got = await late.received;
    expect(got.code, got.errors.slice(0, 1500) + got.screen).toBe(0);
    expect(got.logs).toContain('Please call me back about the order');
    await expect
      .poll(() => chat.locator('li.mine').getAttribute('data-state'), { timeout: 25_000 })
      .toBe('delivered');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('serves its own page, GET /chat/{aor}, with a strict CSP', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    const response = await page.goto(`${system.apiUrl}/chat/${encodeURIComponent(aor(ANN))}`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await expect
      .poll(() => page.locator('.holdover-chat').getAttribute('data-status'), { timeout: 15_000 })
      .toMatch(/^(active|away)$/);
    await page.screenshot({ path: join(docs, 'chat-page.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });
});

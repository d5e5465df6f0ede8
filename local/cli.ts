// `npx holdover …`: the operator CLI. It talks to the running system's API with signed calls:
// locally it finds the endpoint and secret in the data directory; against AWS, --api-url and
// HOLDOVER_SECRET.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { text as readAll } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { normalizeAor } from '../shared/aor.ts';
import { errorMessageOf } from '../shared/contract/error.ts';
import { UserSettingsSchema } from '../shared/contract/settings.ts';
import {
  AlertViewSchema,
  CredentialsSetSchema,
  DeadLetterViewSchema,
  type GroupView,
  GroupViewSchema,
  HeldViewSchema,
  MintedTokenSchema,
  PageSchema,
  PurgedSchema,
  RemovedSchema,
  SettingsAnswerSchema,
  StatsSchema,
  type UserListing,
  UserListingSchema,
} from '../shared/contract/views.ts';
import { signUrl } from '../shared/signature.ts';
import { RuntimeFileSchema } from './config.ts';

const USAGE = `Usage: holdover <command> [options]

Commands:
  held <aor> [--json]     messages held for a user, oldest first
  stats [--json]          counts by state, oldest held message
  dead [--json]           dead letters: bounced messages whose notice to the sender failed for
                          good, with their text, sender, recipient and why
  dead purge <id>|--all   delete one dead letter, or all of them
  settings <aor> [changes] [--json]
                          show a user's settings, or change them:
      --email ADDRESS             where expired messages are emailed (default: the AOR's user@host)
      --expire-after DURATION     how long messages wait before email, e.g. 30m, 72h, 7d
      --hold STATES               states that hold messages: offline,busy,dnd,brb,away
      --on-expire email|bounce|drop
      --offline-notice TEXT       auto-answer senders (once per sender per hour) while away
      --time-zone ZONE            for times in emails, e.g. Europe/Berlin
      --vacation-until ISO --auto-reply TEXT
                                  on vacation: auto-reply once a day, email held messages at once
      --public                    tell the user's status to web pages (GET /v1/availability)
      --clear SETTING             remove one setting (e.g. --clear vacation)
  users set <aor> --password-stdin [--admin]
                          give a user SIP credentials (password read from stdin, 8–128 characters;
                          stored as digest HA1 hashes only)
  users list [--json]     users with credentials
  users remove <aor>      remove a user's credentials (they can no longer REGISTER)
  users import <csv>      credentials in bulk: lines "aor,password" (a header line is optional);
                          each line's result is reported; exit code 3 if any line failed
  token <aor> [--json]    a bearer token (1 hour) for that user, for scripts: prints the token;
                          use it as "Authorization: Bearer <token>" on /v1/me… (admin: operator routes)
  groups set <aor> --members a,b --routing one|all [--public] [--email ADDRESS]
             [--alert-senders addr,@domain] [--on-expire drop|email]
                          set (replace) a group: all = a distribution list (every member gets
                          a copy), one = a queue (one available member, longest idle first);
                          --email: its inbound address (mail → one IM per member, from the
                          --alert-senders only); --on-expire: an undelivered alert copy is
                          dropped (default) or emailed
  alerts [--group <aor>] [--json]
                          recent alerts from email, newest first, with each member's outcome
  groups show <aor> [--json]   groups list [--json]   groups remove <aor>

Options:
  --api-url URL           API endpoint (default: the local system started with npm start)
  --json                  machine-readable output
  -h, --help              this help
  --version               the version of this CLI

Environment: HOLDOVER_SECRET (signing secret; locally read from the data directory),
HOLDOVER_DATA_DIR (default .holdover).`;

export class CliError extends Error {
  override readonly name = 'CliError';
}

interface Endpoint {
  apiUrl: string;
  secret: string;
}

function endpoint(apiUrlOption: string | undefined): Endpoint {
  const dataDir = resolve(process.env.HOLDOVER_DATA_DIR || '.holdover');
  let apiUrl = apiUrlOption ?? process.env.HOLDOVER_API_URL;
  if (apiUrl === undefined) {
    const runtimeFile = join(dataDir, 'runtime.json');
    if (!existsSync(runtimeFile)) {
      throw new CliError(
        `Holdover is not running here (no ${runtimeFile}). Start it with "npm start", or pass --api-url for a deployed system.`,
      );
    }
    const runtime = RuntimeFileSchema.safeParse(JSON.parse(readFileSync(runtimeFile, 'utf8')));
    if (!runtime.success) {
      throw new CliError(`${runtimeFile} is not a Holdover runtime file: stop and restart "npm start".`);
    }
    apiUrl = runtime.data.apiUrl;
  }
  let secret = process.env.HOLDOVER_SECRET;
  if (secret === undefined || secret === '') {
    const secretFile = join(dataDir, 'secret');
    if (!existsSync(secretFile)) {
      throw new CliError(
        'No signing secret: set HOLDOVER_SECRET (for a deployed system, the value in Secrets Manager).',
      );
    }
    secret = readFileSync(secretFile, 'utf8').trim();
  }
  return { apiUrl, secret };
}

function getSigned<Answer extends z.core.$ZodType>(
  target: Endpoint,
  path: string,
  answer: Answer,
): Promise<z.infer<Answer>> {
  return callSigned(target, 'GET', path, answer);
}

/** Every item of a paged signed listing (`{<field>: [...], next?}`), following `next` to the end. */
async function allPages<Item extends z.core.$ZodType>(
  target: Endpoint,
  path: string,
  field: 'messages' | 'users' | 'groups',
  item: Item,
): Promise<z.infer<Item>[]> {
  const items: z.infer<Item>[] = [];
  let after: string | undefined;
  do {
    const query = new URLSearchParams({ limit: '1000', ...(after ? { after } : {}) });
    const page = await getSigned(target, `${path}?${query}`, PageSchema(field, item));
    items.push(...page[field]);
    after = page.next;
  } while (after);
  return items;
}

/** A signed call; its answer parsed with the contract's schema (shared/contract/views.ts). */
async function callSigned<Answer extends z.core.$ZodType>(
  target: Endpoint,
  method: 'GET' | 'PUT' | 'POST' | 'DELETE',
  path: string,
  answerSchema: Answer,
  payload?: unknown,
): Promise<z.infer<Answer>> {
  const body = payload === undefined ? '' : JSON.stringify(payload);
  let response: Response;
  const url = new URL(path, target.apiUrl);
  try {
    response = await fetch(url, {
      method,
      headers: {
        ...signUrl(target.secret, method, url, body),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch {
    throw new CliError(
      `Cannot reach the API at ${target.apiUrl}: is "npm start" running, or is --api-url right?`,
    );
  }
  const text = await response.text();
  if (response.status === 401) {
    const reason = /"reason":"(\w+)"/.exec(text)?.[1];
    throw new CliError(
      reason === 'clock_skew'
        ? "The API refused our signature as too old or too new: check this machine's clock."
        : `The API refused our signature${reason ? ` (${reason})` : ''}: HOLDOVER_SECRET must be the secret the system runs with.`,
    );
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new CliError(`The API answered ${response.status} with something that is not JSON`);
  }
  if (!response.ok) {
    throw new CliError(`The API answered ${response.status}: ${errorMessageOf(answer) ?? text}`);
  }
  const parsed = z.safeParse(answerSchema, answer);
  if (!parsed.success) {
    throw new CliError(
      `The API's answer to ${method} ${url.pathname} is not what this CLI knows (${parsed.error.issues[0]?.message}): is the CLI as new as the system?`,
    );
  }
  return parsed.data;
}

async function held(
  target: Endpoint,
  aorText: string,
  asJson: boolean,
  out: (line: string) => void,
): Promise<void> {
  const aor = parseAor(aorText);
  const messages = await allPages(
    target,
    `/v1/users/${encodeURIComponent(aor)}/messages`,
    'messages',
    HeldViewSchema,
  );

  if (asJson) {
    out(
      JSON.stringify(
        messages.map(({ id, from, to, body, contentType, receivedAt, expiresAt, state }) => ({
          id,
          from,
          to,
          body,
          contentType,
          receivedAt,
          expiresAt,
          state,
        })),
        null,
        2,
      ),
    );
    return;
  }
  if (messages.length === 0) {
    out(`No messages held for ${aor}.`);
    return;
  }
  out(`${messages.length} message${messages.length === 1 ? '' : 's'} held for ${aor}, oldest first:`);
  for (const message of messages) {
    const sender = message.fromName ? `${message.fromName} <${message.from}>` : message.from;
    out(
      `\n${message.receivedAt}  from ${sender}  [${message.state}, expires ${message.expiresAt}]  id ${message.id}`,
    );
    out(message.body === null ? `  (${message.contentType} content)` : indent(message.body));
  }
}

function indent(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => `  ${line}`)
    .join('\n');
}

async function stats(target: Endpoint, asJson: boolean, out: (line: string) => void): Promise<void> {
  const result = await getSigned(target, '/v1/stats', StatsSchema);
  if (asJson) {
    out(JSON.stringify(result, null, 2));
    return;
  }
  const total = Object.values(result.byState).reduce((sum, count) => sum + count, 0);
  out(
    `${total} held message${total === 1 ? '' : 's'} for ${result.recipients} recipient${result.recipients === 1 ? '' : 's'}`,
  );
  for (const [state, count] of Object.entries(result.byState)) out(`  ${state.padEnd(11)} ${count}`);
  out(`  oldest      ${result.oldestReceivedAt ?? '-'}`);
}

async function dead(
  target: Endpoint,
  args: string[],
  flags: { json: boolean; all: boolean },
  out: (line: string) => void,
): Promise<void> {
  if (args[0] === 'purge') {
    const id = args[1];
    if (id === undefined && !flags.all) throw new CliError('dead purge needs an id, or --all');
    if (id !== undefined && flags.all) throw new CliError('dead purge takes an id or --all, not both');
    const path = id === undefined ? '/v1/dead' : `/v1/dead/${encodeURIComponent(id)}`;
    const { purged } = await callSigned(target, 'DELETE', path, PurgedSchema);
    if (flags.json) out(JSON.stringify({ purged }));
    else if (id !== undefined && purged === 0) throw new CliError(`No dead letter with id ${id}.`);
    else out(`Purged ${purged} dead letter${purged === 1 ? '' : 's'}.`);
    return;
  }
  if (args[0] !== undefined)
    throw new CliError(`Unknown dead subcommand "${args[0]}" (try: dead, dead purge)`);
  const letters = await allPages(target, '/v1/dead', 'messages', DeadLetterViewSchema);
  if (flags.json) {
    out(JSON.stringify(letters, null, 2));
    return;
  }
  if (letters.length === 0) {
    out('No dead letters.');
    return;
  }
  out(
    `${letters.length} dead letter${letters.length === 1 ? '' : 's'} (purge with: holdover dead purge <id>|--all):`,
  );
  for (const letter of letters) {
    out(`\n${letter.receivedAt}  from ${letter.from}  to ${letter.to}  id ${letter.id}`);
    out(`  bounced: ${letter.bounce ? `${letter.bounce.status || ''} ${letter.bounce.reason}`.trim() : '-'}`);
    out(`  sender not told: ${letter.reason}`);
    out(letter.body === null ? `  (${letter.contentType} content)` : indent(letter.body));
  }
}

const SETTING_FLAGS = {
  email: 'email',
  'expire-after': 'expireAfter',
  'on-expire': 'onExpire',
  'offline-notice': 'offlineNotice',
  'time-zone': 'timeZone',
} as const;

async function settings(
  target: Endpoint,
  aorText: string,
  flags: Record<string, string | boolean | string[] | undefined>,
  out: (line: string) => void,
): Promise<void> {
  const aor = parseAor(aorText);
  const path = `/v1/users/${encodeURIComponent(aor)}/settings`;
  const current: Record<string, unknown> = (await getSigned(target, path, SettingsAnswerSchema)).settings;
  const next: Record<string, unknown> = { ...current };
  let changed = false;
  for (const [flag, field] of Object.entries(SETTING_FLAGS)) {
    const value = flags[flag];
    if (typeof value === 'string') {
      next[field] = value;
      changed = true;
    }
  }
  if (flags.public === true) {
    next.public = true;
    changed = true;
  }
  if (typeof flags.hold === 'string') {
    next.hold = flags.hold
      .split(',')
      .map((state) => state.trim())
      .filter(Boolean);
    changed = true;
  }
  const until = flags['vacation-until'];
  const autoReply = flags['auto-reply'];
  if (typeof until === 'string' || typeof autoReply === 'string') {
    if (typeof until !== 'string' || typeof autoReply !== 'string') {
      throw new CliError('--vacation-until and --auto-reply go together');
    }
    next.vacation = { until, autoReply };
    changed = true;
  }
  const cleared = Array.isArray(flags.clear) ? flags.clear : [];
  for (const field of cleared) {
    const key = Object.entries(SETTING_FLAGS).find(([flag]) => flag === field)?.[1] ?? field;
    if (!(key in next)) throw new CliError(`--clear ${field}: no such setting is set`);
    delete next[key];
    changed = true;
  }
  let shown = current;
  if (changed) {
    const checked = UserSettingsSchema.safeParse(next);
    if (!checked.success) {
      throw new CliError(
        `Invalid settings: ${checked.error.issues.map((issue) => `${issue.path.join('.') || 'settings'} ${issue.message}`).join('; ')}`,
      );
    }
    shown = (await callSigned(target, 'PUT', path, SettingsAnswerSchema, checked.data)).settings;
  }
  if (flags.json) {
    out(JSON.stringify(shown, null, 2));
    return;
  }
  out(`${changed ? 'Saved. ' : ''}Settings of ${aor}:`);
  const entries = Object.entries(shown);
  if (entries.length === 0) out('  (defaults: hold while offline, busy, dnd, brb, away; email on expiry)');
  for (const [field, value] of entries)
    out(`  ${field.padEnd(14)} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

const listOf = (text: string) =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

function describeGroup(group: GroupView): string {
  const flags = [group.public ? 'public' : undefined, group.email ? `email ${group.email}` : undefined]
    .filter(Boolean)
    .join(', ');
  const kind = group.routing === 'one' ? 'queue (one member)' : 'distribution list (all members)';
  return [
    `${group.aor}  ${kind}${flags ? `, ${flags}` : ''}`,
    `  members        ${group.members.join(', ')}`,
    ...(group.alertSenders.length > 0 ? [`  alert senders  ${group.alertSenders.join(', ')}`] : []),
    ...(group.email ? [`  alert expiry   ${group.onExpire ?? 'drop'}`] : []),
  ].join('\n');
}

async function groups(
  target: () => Endpoint,
  args: string[],
  flags: Record<string, string | boolean | string[] | undefined>,
  out: (line: string) => void,
): Promise<void> {
  const [action, argument] = args;
  const path = (aor: string) => `/v1/groups/${encodeURIComponent(aor)}`;
  const needAor = () => {
    if (argument === undefined)
      throw new CliError(`groups ${action} needs an address, e.g. sip:support@example.com`);
    return parseAor(argument);
  };
  switch (action) {
    case 'set': {
      const aor = needAor();
      const { members, routing } = flags;
      if (typeof members !== 'string' || (routing !== 'one' && routing !== 'all')) {
        throw new CliError('groups set needs --members a,b and --routing one|all');
      }
      const body = {
        members: listOf(members),
        routing,
        ...(flags.public === true ? { public: true } : {}),
        ...(typeof flags.email === 'string' ? { email: flags.email } : {}),
        ...(typeof flags['alert-senders'] === 'string'
          ? { alertSenders: listOf(flags['alert-senders']) }
          : {}),
        ...(typeof flags['on-expire'] === 'string' ? { onExpire: flags['on-expire'] } : {}),
      };
      const stored = await callSigned(target(), 'PUT', path(aor), GroupViewSchema, body);
      out(flags.json ? JSON.stringify(stored, null, 2) : `Saved. ${describeGroup(stored)}`);
      return;
    }
    case 'show': {
      const group = await getSigned(target(), path(needAor()), GroupViewSchema);
      out(flags.json ? JSON.stringify(group, null, 2) : describeGroup(group));
      return;
    }
    case 'list': {
      const listed = await allPages(target(), '/v1/groups', 'groups', GroupViewSchema);
      if (flags.json) out(JSON.stringify(listed, null, 2));
      else if (listed.length === 0)
        out('No groups yet: npx holdover groups set <aor> --members a,b --routing one|all');
      else for (const group of listed) out(describeGroup(group));
      return;
    }
    case 'remove': {
      const aor = needAor();
      await callSigned(target(), 'DELETE', path(aor), RemovedSchema);
      out(`Group ${aor} removed.`);
      return;
    }
    default:
      throw new CliError('groups needs one of: set, show, list, remove');
  }
}

/** Recent alerts from email (one page, newest first), each member's outcome on its own line. */
async function alerts(
  target: Endpoint,
  flags: { json: boolean; group?: string | undefined },
  out: (line: string) => void,
): Promise<void> {
  const query = new URLSearchParams({
    limit: '100',
    ...(flags.group ? { group: parseAor(flags.group) } : {}),
  });
  const page = await getSigned(target, `/v1/alerts?${query}`, PageSchema('alerts', AlertViewSchema));
  if (flags.json) {
    out(JSON.stringify(page.alerts, null, 2));
    return;
  }
  if (page.alerts.length === 0) {
    out(flags.group ? `No alerts for ${flags.group}.` : 'No alerts yet.');
    return;
  }
  for (const alert of page.alerts) {
    out(`${alert.receivedAt}  ${alert.group}  from ${alert.from}  id ${alert.id}`);
    out(`  ${alert.subject}`);
    for (const member of alert.members)
      out(
        `    ${member.member}  ${member.outcome}${member.detail ? ` (${member.detail})` : ''}  ${member.at}`,
      );
  }
}

/** A password piped in: everything on stdin but one trailing line break. */
async function passwordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (then Enter and Ctrl-D): ');
  return (await readAll(process.stdin)).replace(/\r?\n$/, '');
}

async function setUser(
  target: Endpoint,
  aor: string,
  password: string,
  admin: boolean,
): Promise<z.infer<typeof CredentialsSetSchema>> {
  return callSigned(target, 'PUT', `/v1/users/${encodeURIComponent(aor)}/credentials`, CredentialsSetSchema, {
    password,
    ...(admin ? { admin } : {}),
  });
}

async function users(
  target: () => Endpoint,
  args: string[],
  flags: { json: boolean; admin: boolean; 'password-stdin': boolean },
  out: (line: string) => void,
): Promise<void> {
  const [action, argument] = args;
  switch (action) {
    case 'set': {
      if (argument === undefined)
        throw new CliError('users set needs an address: users set sip:bob@example.com --password-stdin');
      if (!flags['password-stdin']) {
        throw new CliError(
          'users set reads the password from stdin: add --password-stdin (it never goes on the command line)',
        );
      }
      const aor = parseAor(argument);
      const password = await passwordFromStdin();
      const stored = await setUser(target(), aor, password, flags.admin);
      out(
        flags.json
          ? JSON.stringify(stored, null, 2)
          : `Credentials set for ${stored.aor}${stored.admin ? ' (admin)' : ''}.`,
      );
      return;
    }
    case 'list': {
      const listed: UserListing[] = await allPages(target(), '/v1/users', 'users', UserListingSchema);
      if (flags.json) {
        out(JSON.stringify(listed, null, 2));
        return;
      }
      if (listed.length === 0) {
        out('No user has credentials yet: npx holdover users set <aor> --password-stdin');
        return;
      }
      for (const user of listed) out(`${user.aor}${user.admin ? '  (admin)' : ''}  set ${user.updatedAt}`);
      return;
    }
    case 'remove': {
      if (argument === undefined)
        throw new CliError('users remove needs an address: users remove sip:bob@example.com');
      const aor = parseAor(argument);
      await callSigned(target(), 'DELETE', `/v1/users/${encodeURIComponent(aor)}/credentials`, RemovedSchema);
      out(`Credentials of ${aor} removed.`);
      return;
    }
    case 'import':
      if (argument === undefined) throw new CliError('users import needs a CSV file of "aor,password" lines');
      return importUsers(target(), argument, out);
    default:
      throw new CliError('users needs one of: set, list, remove, import');
  }
}

/** One CSV field, unquoted if it is "quoted" ("" inside is one "). */
function csvField(text: string): string {
  const trimmed = text.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
    ? trimmed.slice(1, -1).replaceAll('""', '"')
    : trimmed;
}

async function importUsers(target: Endpoint, file: string, out: (line: string) => void): Promise<void> {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const lines = content.split(/\r?\n/);
  let failed = 0;
  let done = 0;
  for (const [index, line] of lines.entries()) {
    const number = index + 1;
    if (line.trim() === '') continue;
    const comma = line.indexOf(',');
    const aorText = comma < 0 ? line : line.slice(0, comma);
    if (index === 0 && /^\s*"?aor"?\s*,\s*"?password"?\s*$/i.test(line)) continue;
    try {
      if (comma < 0) throw new CliError('expected "aor,password"');
      const aor = parseAor(csvField(aorText));
      await setUser(target, aor, csvField(line.slice(comma + 1)), false);
      done++;
      out(`line ${number}: ${aor} set`);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      failed++;
      out(`line ${number}: failed: ${error.message}`);
    }
  }
  out(`${done} set, ${failed} failed`);
  if (failed > 0) throw new ImportFailedError(`${failed} line${failed === 1 ? '' : 's'} of ${file} failed`);
}

/** Some lines of an import failed (the others were set): exit code 3. */
export class ImportFailedError extends Error {
  override readonly name = 'ImportFailedError';
  readonly exitCode = 3;
}

async function token(
  target: Endpoint,
  aorText: string,
  asJson: boolean,
  out: (line: string) => void,
): Promise<void> {
  const aor = parseAor(aorText);
  const minted = await callSigned(
    target,
    'POST',
    `/v1/users/${encodeURIComponent(aor)}/token`,
    MintedTokenSchema,
  );
  out(asJson ? JSON.stringify(minted, null, 2) : minted.token);
}

/** The package's version, read where the CLI was started from (bundled or not). */
function version(): string {
  const manifest = new URL('../package.json', import.meta.url);
  try {
    const { name, version: number } = z
      .object({ name: z.string(), version: z.string() })
      .parse(JSON.parse(readFileSync(manifest, 'utf8')));
    return `${name} ${number}`;
  } catch {
    return 'holdover (version unknown: package.json not found next to the CLI)';
  }
}

function parseAor(text: string): string {
  try {
    return normalizeAor(text);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
}

export async function runCli(argv: string[], out: (line: string) => void = console.log): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      'api-url': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', default: false },
      email: { type: 'string' },
      'expire-after': { type: 'string' },
      hold: { type: 'string' },
      'on-expire': { type: 'string' },
      'offline-notice': { type: 'string' },
      'time-zone': { type: 'string' },
      'vacation-until': { type: 'string' },
      'auto-reply': { type: 'string' },
      clear: { type: 'string', multiple: true },
      'password-stdin': { type: 'boolean', default: false },
      admin: { type: 'boolean', default: false },
      public: { type: 'boolean', default: false },
      members: { type: 'string' },
      routing: { type: 'string' },
      'alert-senders': { type: 'string' },
      group: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.version) {
    out(version());
    return;
  }
  if (values.help || command === undefined || command === 'help') {
    out(USAGE);
    return;
  }
  switch (command) {
    case 'held': {
      const aor = rest[0];
      if (aor === undefined)
        throw new CliError('held needs an address, e.g. holdover held sip:bob@example.com');
      return held(endpoint(values['api-url']), aor, values.json, out);
    }
    case 'stats':
      return stats(endpoint(values['api-url']), values.json, out);
    case 'dead':
      return dead(endpoint(values['api-url']), rest, { json: values.json, all: values.all }, out);
    case 'settings': {
      const aor = rest[0];
      if (aor === undefined)
        throw new CliError('settings needs an address, e.g. holdover settings sip:bob@example.com');
      return settings(endpoint(values['api-url']), aor, values, out);
    }
    case 'users':
      return users(() => endpoint(values['api-url']), rest, values, out);
    case 'token': {
      const aor = rest[0];
      if (aor === undefined)
        throw new CliError('token needs an address, e.g. holdover token sip:bob@example.com');
      return token(endpoint(values['api-url']), aor, values.json, out);
    }
    case 'groups':
      return groups(() => endpoint(values['api-url']), rest, values, out);
    case 'alerts':
      return alerts(endpoint(values['api-url']), { json: values.json, group: values.group }, out);
    default:
      throw new CliError(`Unknown command "${command}".\n\n${USAGE}`);
  }
}

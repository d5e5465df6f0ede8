// `npx holdover …`: the operator CLI. It talks to the running system's API with signed calls:
// locally it finds the endpoint and secret in the data directory; against AWS, --api-url and
// HOLDOVER_SECRET.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { normalizeAor } from '../functions/core/aor.ts';
import { signedHeaders } from '../functions/core/signature.ts';
import type { RuntimeFile } from './config.ts';

const USAGE = `Usage: holdover <command> [options]

Commands:
  held <aor> [--json]     messages held for a user, oldest first
  stats [--json]          counts by state, oldest held message

Options:
  --api-url URL           API endpoint (default: the local system started with npm start)
  --json                  machine-readable output
  -h, --help              this help

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
    const runtime = JSON.parse(readFileSync(runtimeFile, 'utf8')) as RuntimeFile;
    apiUrl = runtime.apiUrl;
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

async function getSigned(target: Endpoint, path: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(new URL(path, target.apiUrl), {
      headers: signedHeaders(target.secret, ''),
      signal: AbortSignal.timeout(30_000),
    });
  } catch {
    throw new CliError(
      `Cannot reach the API at ${target.apiUrl}: is "npm start" running, or is --api-url right?`,
    );
  }
  const text = await response.text();
  if (response.status === 401) {
    throw new CliError(
      'The API refused our signature: HOLDOVER_SECRET must be the secret the system runs with.',
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CliError(`The API answered ${response.status} with something that is not JSON`);
  }
  if (!response.ok) {
    const message = (body as { error?: { message?: string } }).error?.message ?? text;
    throw new CliError(`The API answered ${response.status}: ${message}`);
  }
  return body;
}

interface HeldEntry {
  id: string;
  from: string;
  fromName?: string;
  to: string;
  body: string | null;
  contentType: string;
  receivedAt: string;
  expiresAt: string;
  state: string;
}

async function held(
  target: Endpoint,
  aorText: string,
  asJson: boolean,
  out: (line: string) => void,
): Promise<void> {
  let aor: string;
  try {
    aor = normalizeAor(aorText);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
  const messages: HeldEntry[] = [];
  let after: string | undefined;
  do {
    const query = new URLSearchParams({ limit: '1000', ...(after ? { after } : {}) });
    const page = (await getSigned(target, `/v1/users/${encodeURIComponent(aor)}/messages?${query}`)) as {
      messages: HeldEntry[];
      next?: string;
    };
    messages.push(...page.messages);
    after = page.next;
  } while (after);

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
  const result = (await getSigned(target, '/v1/stats')) as {
    byState: Record<string, number>;
    recipients: number;
    oldestReceivedAt?: string;
  };
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

export async function runCli(argv: string[], out: (line: string) => void = console.log): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'api-url': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
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
    default:
      throw new CliError(`Unknown command "${command}".\n\n${USAGE}`);
  }
}

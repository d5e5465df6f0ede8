// The local system's settings (README "Run it on one machine"): each variable checked at start; a bad
// value stops the start with a message naming it.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { digestAlgorithmsFromEnv, sipAuthThrottleFromEnv } from '../edge/config.ts';
import { parseTrustedProxies } from '../edge/trusted-proxies.ts';
import { type StoreKind, storeKindFromEnv } from '../functions/adapters/store-kind.ts';
import { envDurationMs, envInt, envOr } from '../shared/env.ts';
import { expireAfterText, servedDomains, sweepIntervalMs } from '../shared/settings.ts';

export interface LocalConfig {
  apiPort: number;
  sipHost: string;
  sipPort: number;
  edgeHttpPort: number;
  dynamodbPort: number;
  sqsPort: number;
  sesPort: number;
  /** SMTP_PORT: the inbound SMTP listener for alerts from email (127.0.0.1). */
  smtpPort: number;
  outboundProxy?: string;
  expireAfter: string;
  sweepIntervalMs: number;
  domains: string[];
  mailFrom: string;
  dataDir: string;
  secret: string;
  /** HOLDOVER_STORE: the embedded SQLite file (default) or DynamoDB Local. */
  store: StoreKind;
  /** The SQLite file, in the data directory. */
  sqlitePath: string;
  tableName: string;
  /** Passed to the edge as they are, checked here first (so a bad value stops `npm start`). */
  edgeAuth: {
    HOLDOVER_TRUSTED_PROXIES?: string;
    HOLDOVER_DIGEST_ALGORITHMS?: string;
    HOLDOVER_CREDENTIALS_CACHE?: string;
    HOLDOVER_SIP_AUTH_FAILURES?: string;
    HOLDOVER_SIP_AUTH_SOURCE_FAILURES?: string;
    HOLDOVER_SIP_AUTH_WINDOW?: string;
  };
}

function port(name: string, fallback: number): number {
  const value = envInt(name, fallback);
  if (value > 65_535) throw new Error(`${name} must be a port number 1–65535, got "${value}"`);
  return value;
}

export function loadLocalConfig(): LocalConfig {
  const dataDir = resolve(envOr('HOLDOVER_DATA_DIR', '.holdover'));
  const expireAfter = expireAfterText();
  const domains = servedDomains();
  const sipHost = envOr('SIP_HOST', '127.0.0.1');
  if (isIP(sipHost) === 0) throw new Error(`SIP_HOST must be an IP address, got "${sipHost}"`);
  const outboundProxy = process.env.OUTBOUND_PROXY;
  if (outboundProxy !== undefined && outboundProxy !== '' && !/^sips?:/i.test(outboundProxy)) {
    throw new Error(
      `OUTBOUND_PROXY must be a SIP URI such as sip:127.0.0.1:5060;transport=tcp, got "${outboundProxy}"`,
    );
  }
  const mailFrom = envOr('HOLDOVER_MAIL_FROM', `holdover@${domains[0]}`);
  if (!/^[^@\s]+@[^@\s]+$/.test(mailFrom))
    throw new Error(`HOLDOVER_MAIL_FROM must be an email address, got "${mailFrom}"`);
  const apiPort = port('PORT', 3000);
  parseTrustedProxies(envOr('HOLDOVER_TRUSTED_PROXIES', ''));
  digestAlgorithmsFromEnv();
  envDurationMs('HOLDOVER_CREDENTIALS_CACHE', '30s');
  sipAuthThrottleFromEnv();
  const edgeAuth: LocalConfig['edgeAuth'] = {};
  for (const name of [
    'HOLDOVER_TRUSTED_PROXIES',
    'HOLDOVER_DIGEST_ALGORITHMS',
    'HOLDOVER_CREDENTIALS_CACHE',
    'HOLDOVER_SIP_AUTH_FAILURES',
    'HOLDOVER_SIP_AUTH_SOURCE_FAILURES',
    'HOLDOVER_SIP_AUTH_WINDOW',
  ] as const) {
    const value = process.env[name];
    if (value !== undefined && value !== '') edgeAuth[name] = value;
  }
  return {
    apiPort,
    sipHost,
    sipPort: port('SIP_PORT', 5060),
    edgeHttpPort: port('EDGE_HTTP_PORT', apiPort + 1),
    dynamodbPort: port('DYNAMODB_PORT', 8000),
    sqsPort: port('SQS_PORT', 9324),
    sesPort: port('SES_PORT', 8005),
    smtpPort: port('SMTP_PORT', 2525),
    ...(outboundProxy ? { outboundProxy } : {}),
    expireAfter,
    sweepIntervalMs: sweepIntervalMs(),
    domains,
    mailFrom,
    dataDir,
    secret: loadSecret(dataDir),
    store: storeKindFromEnv('sqlite'),
    sqlitePath: join(dataDir, 'holdover.db'),
    tableName: 'holdover',
    edgeAuth,
  };
}

/** HOLDOVER_SECRET if set, else one generated once into the data directory (mode 0600). */
function loadSecret(dataDir: string): string {
  const fromEnv = process.env.HOLDOVER_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') {
    // a comma-separated list rotates: the first signs, any verifies
    const secrets = fromEnv.split(',').map((secret) => secret.trim());
    if (secrets.some((secret) => secret.length < 16)) {
      throw new Error(
        'HOLDOVER_SECRET must be at least 16 characters (each, when it is a comma-separated list)',
      );
    }
    return secrets.join(',');
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/**
 * The data directory holds every held message (the SQLite file, or DynamoDB Local's), the signing
 * secret and the logs: readable by its owner only (docs/design.md "Security"). Run with umask 077 so that everything
 * the system and its children create is 0600/0700, and tighten what an older run left behind.
 */
export function secureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tighten = (dir: string) => {
    chmodSync(dir, 0o700);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) tighten(path);
      else if (entry.isFile()) chmodSync(path, 0o600);
    }
  };
  tighten(dataDir);
}

/** What the CLI needs to find the running system; written by `npm start`. */
/** `runtime.json` in the data directory: where the running system is, for the CLI and the tests. */
export const RuntimeFileSchema = z.object({
  apiUrl: z.string(),
  pid: z.number().int(),
  /** The edge process, for operators (and the crash test) to find it. */
  edgePid: z.number().int().optional(),
  sesPid: z.number().int().optional(),
  /** DynamoDB Local's java process and the SQS stand-in, for the fault tests to find them. */
  dynamodbPid: z.number().int().optional(),
  sqsPid: z.number().int().optional(),
  startedAt: z.string(),
});
export type RuntimeFile = z.infer<typeof RuntimeFileSchema>;

export function runtimeFilePath(dataDir: string): string {
  return join(dataDir, 'runtime.json');
}

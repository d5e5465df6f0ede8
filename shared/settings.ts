// The deployment settings the functions, the edge and the local runtime read from the environment
// (infra/catalogue.ts says which function gets which), each with its one default: the construct
// (infra/holdover.ts) and `npm start` (local/config.ts) pass the same defaults on. Read once, at
// module scope; a malformed value fails the start with its name (shared/env.ts).
import { envDurationMs, envInt, envList, envOr } from './env.ts';

export const SETTING_DEFAULTS = {
  HOLDOVER_DOMAINS: 'example.com,localhost,127.0.0.1',
  HOLDOVER_EXPIRE_AFTER: '72h',
  HOLDOVER_MAX_BODY_BYTES: 65_536,
  HOLDOVER_QUOTA: 1000,
  HOLDOVER_DELIVERY_BATCH: 100,
  HOLDOVER_SWEEP_INTERVAL: '60s',
  HOLDOVER_CORS_ORIGINS: '*',
  HOLDOVER_AVAILABILITY_MAX_AGE: 5,
  HOLDOVER_AVAILABILITY_RATE: 60,
  HOLDOVER_CHAT_IDLE: '10m',
  HOLDOVER_CHAT_LIFETIME: '2h',
  HOLDOVER_CHAT_RETAIN: '7d',
  HOLDOVER_CHAT_START_RATE: 10,
  HOLDOVER_CHAT_LINE_RATE: 20,
} as const;

/** HOLDOVER_DOMAINS: the SIP domains served, lower-cased; at least one. */
export function servedDomains(): string[] {
  const domains = envList('HOLDOVER_DOMAINS', SETTING_DEFAULTS.HOLDOVER_DOMAINS);
  if (domains.length === 0) throw new Error('HOLDOVER_DOMAINS must name at least one SIP domain');
  return domains;
}

/** HOLDOVER_EXPIRE_AFTER as written (checked to be a duration), e.g. `72h`. */
export function expireAfterText(): string {
  envDurationMs('HOLDOVER_EXPIRE_AFTER', SETTING_DEFAULTS.HOLDOVER_EXPIRE_AFTER);
  return envOr('HOLDOVER_EXPIRE_AFTER', SETTING_DEFAULTS.HOLDOVER_EXPIRE_AFTER);
}

export function expireAfterMs(): number {
  return envDurationMs('HOLDOVER_EXPIRE_AFTER', SETTING_DEFAULTS.HOLDOVER_EXPIRE_AFTER);
}

export function maxBodyBytes(): number {
  return envInt('HOLDOVER_MAX_BODY_BYTES', SETTING_DEFAULTS.HOLDOVER_MAX_BODY_BYTES);
}

export function quota(): number {
  return envInt('HOLDOVER_QUOTA', SETTING_DEFAULTS.HOLDOVER_QUOTA);
}

/** HOLDOVER_DELIVERY_BATCH: held messages per /deliver call. */
export function deliveryBatchSize(): number {
  return envInt('HOLDOVER_DELIVERY_BATCH', SETTING_DEFAULTS.HOLDOVER_DELIVERY_BATCH);
}

export function sweepIntervalMs(): number {
  return envDurationMs('HOLDOVER_SWEEP_INTERVAL', SETTING_DEFAULTS.HOLDOVER_SWEEP_INTERVAL);
}

/** HOLDOVER_CORS_ORIGINS: the origins a public route's answer may be read by (`*`: any). */
export function corsOrigins(): string[] {
  return envOr('HOLDOVER_CORS_ORIGINS', SETTING_DEFAULTS.HOLDOVER_CORS_ORIGINS)
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
}

export function availabilityMaxAgeSeconds(): number {
  return envInt('HOLDOVER_AVAILABILITY_MAX_AGE', SETTING_DEFAULTS.HOLDOVER_AVAILABILITY_MAX_AGE, 0);
}

/** HOLDOVER_AVAILABILITY_RATE: availability requests per minute per client address. */
export function availabilityRatePerMinute(): number {
  return envInt('HOLDOVER_AVAILABILITY_RATE', SETTING_DEFAULTS.HOLDOVER_AVAILABILITY_RATE);
}

/** Click-to-chat: a quiet chat ends after HOLDOVER_CHAT_IDLE; a chat token lives HOLDOVER_CHAT_LIFETIME. */
export function chatIdleMs(): number {
  return envDurationMs('HOLDOVER_CHAT_IDLE', SETTING_DEFAULTS.HOLDOVER_CHAT_IDLE);
}

export function chatLifetimeMs(): number {
  return envDurationMs('HOLDOVER_CHAT_LIFETIME', SETTING_DEFAULTS.HOLDOVER_CHAT_LIFETIME);
}

/** HOLDOVER_CHAT_RETAIN: how long a chat and its lines are kept (never less than its lifetime). */
export function chatRetainMs(): number {
  return Math.max(
    envDurationMs('HOLDOVER_CHAT_RETAIN', SETTING_DEFAULTS.HOLDOVER_CHAT_RETAIN),
    chatLifetimeMs(),
  );
}

/** Chats a client address may start a minute (per function instance). */
export function chatStartsPerMinute(): number {
  return envInt('HOLDOVER_CHAT_START_RATE', SETTING_DEFAULTS.HOLDOVER_CHAT_START_RATE);
}

/** Lines a chat, and a client address, may send a minute (per function instance). */
export function chatLinesPerMinute(): number {
  return envInt('HOLDOVER_CHAT_LINE_RATE', SETTING_DEFAULTS.HOLDOVER_CHAT_LINE_RATE);
}

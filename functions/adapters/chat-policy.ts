// The chat settings, read once (functions/core/chat.ts ChatPolicy): the visitor AORs' domain (the
// first served domain), when a quiet chat ends, how long a chat token lives, how long a chat is kept.
import type { ChatPolicy } from '../core/chat.ts';
import { envDurationMs, envList } from './env.ts';

const domains = envList('HOLDOVER_DOMAINS', 'example.com,localhost,127.0.0.1');

export const chatPolicy: ChatPolicy = {
  visitorDomain: domains[0] ?? 'example.com',
  idleMs: envDurationMs('HOLDOVER_CHAT_IDLE', '10m'),
  lifetimeMs: envDurationMs('HOLDOVER_CHAT_LIFETIME', '2h'),
  retainMs: Math.max(
    envDurationMs('HOLDOVER_CHAT_RETAIN', '7d'),
    envDurationMs('HOLDOVER_CHAT_LIFETIME', '2h'),
  ),
};

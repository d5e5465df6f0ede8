// Capture's dependencies, wired once per process: the capture routes (functions/capture.ts), the
// chat routes (a visitor's line) and the inbound mail function (an alert's copies) capture with
// the same ones. A module of its own so that a function which captures without serving the capture
// routes (inboundEmail) does not carry the HTTP plumbing of functions/capture.ts.
import { monotonicFactory } from 'ulid';
import { expireAfterMs, maxBodyBytes, quota, servedDomains } from '../../shared/settings.ts';
import type { CaptureDeps } from '../core/capture.ts';
import { chatPolicy } from './chat-policy.ts';
import { logger } from './observability.ts';
import { deliveryQueue } from './queue.ts';
import { chatStore, groupStore, recipientStore, store } from './store.ts';

const ulid = monotonicFactory();
export const captureDeps: CaptureDeps = {
  store,
  users: store,
  groups: groupStore,
  ...(recipientStore ? { recipients: recipientStore } : {}),
  chats: { store: chatStore, policy: chatPolicy },
  queue: deliveryQueue,
  policy: {
    domains: new Set(servedDomains()),
    defaultExpireAfterMs: expireAfterMs(),
    maxBodyBytes: maxBodyBytes(),
    quota: quota(),
  },
  now: Date.now,
  newId: (nowMs: number) => ulid(nowMs),
  onFollowUpError: (error: unknown) =>
    logger.warn('message stored, but queueing its delivery run or notice failed', {
      error: error instanceof Error ? error : String(error),
    }),
};

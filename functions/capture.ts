// POST /v1/messages — the edge hands over a MESSAGE it received for an absent user.
// Thin: parse (zod) → captureMessage (core) → status. 202 only once the message is stored.

import {
  CaptureBatchRequestSchema,
  type CaptureRequest,
  CaptureRequestSchema,
} from '../shared/contract/capture.ts';
import { DomainError } from '../shared/errors.ts';
import { captureDeps } from './adapters/capture-deps.ts';
import { authorizedRoute, errorResult, type RouteResult } from './adapters/http.ts';
import { count, countWithDimension, logger } from './adapters/observability.ts';
import { type CaptureDeps, captureMessage } from './core/capture.ts';
import type { RecipientStore } from './core/ports.ts';

/** What one MESSAGE's capture answered: the status and body the single route would have sent. */
async function captureOne(request: CaptureRequest, deps: CaptureDeps = captureDeps): Promise<RouteResult> {
  const { body, ...rest } = request;
  const context = { callId: request.callId, cseq: request.cseq };
  try {
    const result = await captureMessage({ ...rest, body: Buffer.from(body, 'base64') }, deps);
    if (result.status === 'ignored') {
      logger.debug('message ignored', { ...context, reason: result.reason });
      return { status: 200, body: result };
    }
    if (result.status === 'chat') {
      count('chatAnswer');
      logger.info('chat answer', { ...context, chatId: result.chatId, lineId: result.lineId });
      return { status: 200, body: result };
    }
    count(result.status === 'held' ? 'captured' : 'duplicate');
    logger.info(result.status === 'held' ? 'message held' : 'duplicate message', {
      ...context,
      messageId: result.id,
    });
    return { status: 202, body: result };
  } catch (error) {
    if (error instanceof DomainError) {
      countWithDimension('refused', error.code);
      logger.info('message refused', { ...context, reason: error.code, detail: error.message });
    }
    throw error;
  }
}

export const handler = authorizedRoute('capture', CaptureRequestSchema, ({ body }) => captureOne(body));

/**
 * POST /v1/messages/batch — several MESSAGEs that reached the edge together, in one signed call
 * (one nonce). Each is captured on its own; the answer lists each one's status and body as the
 * single route would have answered it, in order. 200 once every one has its result.
 */
export const batchHandler = authorizedRoute(
  'captureBatch',
  CaptureBatchRequestSchema,
  async ({ body, correlationId }) => {
    // Side by side, as the same MESSAGEs sent one call each would be: the order comes from each
    // one's receivedAt (stamped at the edge), and the quota holds as it does for concurrent calls.
    // Messages of the batch to the same recipient share the read before the write (group and
    // settings, as concurrent reads would have seen them); each still writes and counts alone.
    const deps = sharingRecipientReads(captureDeps);
    const results = await Promise.all(body.messages.map((message) => answerOf(message, correlationId, deps)));
    return { status: 200, body: { results } };
  },
);

/** `deps` whose recipient reads are made once per recipient (for one batch). */
function sharingRecipientReads(deps: CaptureDeps): CaptureDeps {
  const { recipients } = deps;
  if (recipients === undefined) return deps;
  const reads = new Map<string, ReturnType<RecipientStore['readRecipient']>>();
  return {
    ...deps,
    recipients: {
      readRecipient: (aor) => {
        let read = reads.get(aor);
        if (read === undefined) {
          read = recipients.readRecipient(aor);
          reads.set(aor, read);
          // a failed read is not shared: the next message reads again
          read.catch(() => reads.delete(aor));
        }
        return read;
      },
    },
  };
}

/** The single route's answer, errors included (mapped as authorizedRoute maps them). */
async function answerOf(
  message: CaptureRequest,
  correlationId: string,
  deps: CaptureDeps,
): Promise<RouteResult> {
  try {
    return await captureOne(message, deps);
  } catch (error) {
    const { statusCode = 500, body } = errorResult('captureBatch', error, correlationId);
    return { status: statusCode, body: body === undefined ? {} : (JSON.parse(body) as unknown) };
  }
}

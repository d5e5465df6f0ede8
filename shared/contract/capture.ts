// The capture wire: the edge hands over each MESSAGE for an absent user, `POST /v1/messages`,
// or several that arrived together, `POST /v1/messages/batch`; the API answers each as below.
import * as z from '../zod.ts';

/** One MESSAGE as the edge hands it over. */
export const CaptureRequestSchema = z.object({
  callId: z.string().check(z.minLength(1), z.maxLength(1024)),
  cseq: z.int().check(z.gte(0), z.lte(2 ** 31 - 1)),
  from: z.string().check(z.minLength(1), z.maxLength(2048)),
  fromName: z.optional(z.string().check(z.maxLength(512))),
  to: z.string().check(z.minLength(1), z.maxLength(2048)),
  contentType: z.string().check(z.minLength(1), z.maxLength(512)),
  /** Base64 of the body bytes, byte-exact. */
  body: z.base64(),
  subject: z.optional(z.string().check(z.maxLength(1024))),
  expires: z.optional(z.int().check(z.gte(0))),
  replyTo: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  /** When the edge received it (its clock); orders messages that are stored concurrently. */
  receivedAt: z.optional(z.iso.datetime()),
  autoSubmitted: z.optional(z.boolean()),
  /** Epoch ms after which the edge no longer waits (it answers 503): nothing is stored past it. */
  deadline: z.optional(z.int().check(z.positive())),
});
export type CaptureRequest = z.infer<typeof CaptureRequestSchema>;

/** Most MESSAGEs in one batch call (the edge hands over those that arrive together). */
export const CAPTURE_BATCH_MAX = 25;

export const CaptureBatchRequestSchema = z.object({
  messages: z.array(CaptureRequestSchema).check(z.minLength(1), z.maxLength(CAPTURE_BATCH_MAX)),
});
export type CaptureBatchRequest = z.infer<typeof CaptureBatchRequestSchema>;

/** 202: stored (or a duplicate of a stored one); 200: not stored (an is-composing indication). */
export const CaptureAnswerSchema = z.union([
  z.object({
    status: z.enum(['held', 'duplicate']),
    id: z.string(),
    expiresAt: z.iso.datetime({ offset: true }),
  }),
  z.object({ status: z.literal('ignored'), reason: z.string() }),
]);
export type CaptureAnswer = z.infer<typeof CaptureAnswerSchema>;

/** The batch's answer: each MESSAGE's status and body as the single route would have sent them. */
export const CaptureBatchAnswerSchema = z.object({
  results: z.array(z.object({ status: z.int(), body: z.unknown() })),
});
export type CaptureBatchAnswer = z.infer<typeof CaptureBatchAnswerSchema>;

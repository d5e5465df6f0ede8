// What every API route answers on an error (functions/adapters/http.ts builds it): the edge turns
// its message into a SIP Warning, the CLI prints it.
import * as z from '../zod.ts';

export const ErrorAnswerSchema = z.object({
  error: z.object({
    code: z
      .string()
      .check(z.meta({ description: 'Machine-readable fault, e.g. `invalid_request`, `quota_exceeded`' })),
    reason: z.optional(z.string()).check(
      z.meta({
        description: 'On a refused signature: `missing_header`, `clock_skew`, `nonce_reused`, `mismatch`, …',
      }),
    ),
    message: z
      .string()
      .check(z.meta({ description: 'What is wrong and what to do (4xx); `Internal error` on a 500' })),
    correlationId: z
      .optional(z.string())
      .check(z.meta({ description: 'On a 500: the request id, also in the log lines of that call' })),
  }),
});
export type ErrorAnswer = z.infer<typeof ErrorAnswerSchema>;

/** Only what a reader of an error needs: its message (a stand-in or a proxy may send no code). */
const ErrorMessageSchema = z.object({ error: z.object({ message: z.string() }) });

/** The message of an error answer, if `body` is one. */
export function errorMessageOf(body: unknown): string | undefined {
  const parsed = ErrorMessageSchema.safeParse(body);
  return parsed.success ? parsed.data.error.message : undefined;
}

// The Edge port over HTTP: a signed POST {edge}/deliver; the edge sends the MESSAGEs one after
// another and answers each final status.
import * as z from 'zod';
import type { OutgoingMessage } from '../core/jobs.ts';
import type { Edge, EdgeOutcome } from '../core/ports.ts';
import { signedHeaders } from '../core/signature.ts';

const DeliverAnswerSchema = z.object({
  outcomes: z.array(z.object({ id: z.string(), status: z.number().int(), reason: z.string() })),
});

export class HttpEdge implements Edge {
  constructor(
    private readonly baseUrl: string,
    private readonly secret: () => Promise<string>,
    private readonly timeoutMs = 120_000,
  ) {}

  async deliver(request: {
    recipient: string;
    target?: string;
    messages: OutgoingMessage[];
  }): Promise<EdgeOutcome[]> {
    const body = JSON.stringify(request);
    const response = await fetch(new URL('/deliver', this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signedHeaders(await this.secret(), body) },
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`edge answered ${response.status}: ${text.slice(0, 200)}`);
    const parsed = DeliverAnswerSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error('edge answered /deliver with an unexpected body');
    return parsed.data.outcomes;
  }
}

// The Edge port over HTTP: a signed POST {edge}/deliver. The edge sends the MESSAGEs one after
// another and streams each final status as it arrives, one JSON line per message, then
// {"done":true}; a stream that ends early means the edge went away mid-batch.

import {
  type DeliveryBatch,
  DeliveryLineSchema,
  type DeliveryOutcome,
} from '../../shared/contract/delivery.ts';
import { signUrl } from '../../shared/signature.ts';
import type { Edge, EdgeDelivery } from '../core/ports.ts';

export class HttpEdge implements Edge {
  constructor(
    private readonly baseUrl: string,
    private readonly secret: () => Promise<string>,
    // below the delivery function's own timeout (5 min), so a hung edge fails the batch, not the function
    private readonly timeoutMs = 240_000,
  ) {}

  async deliver(request: DeliveryBatch, events: { accepted?: () => void } = {}): Promise<EdgeDelivery> {
    const body = JSON.stringify(request);
    const url = new URL('/deliver', this.baseUrl);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signUrl(await this.secret(), 'POST', url, body) },
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok || response.body === null) {
      throw new Error(`edge answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    }
    // the edge answers 200 once it verified the call and is sending (or has sent) the batch
    events.accepted?.();
    const outcomes: DeliveryOutcome[] = [];
    let complete = false;
    let pending = '';
    const take = (line: string) => {
      if (line.trim() === '') return;
      const parsed = DeliveryLineSchema.safeParse(JSON.parse(line));
      if (!parsed.success) throw new Error('edge answered /deliver with an unexpected line');
      if ('done' in parsed.data) complete = true;
      else outcomes.push(parsed.data);
    };
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        pending += decoder.decode(chunk, { stream: true });
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          take(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
        }
      }
      take(pending);
    } catch {
      // the connection broke: keep what was reported so far
      complete = false;
    }
    return { outcomes, complete };
  }
}

// The Edge port over HTTP: a signed POST {edge}/deliver. The edge sends the MESSAGEs one after
// another and streams each final status as it arrives, one JSON line per message, then
// {"done":true}; a stream that ends early means the edge went away mid-batch. Node's own HTTP
// client, not fetch: a line per MESSAGE is read as a plain 'data' event, without a web stream's
// promise per chunk.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  type DeliveryBatch,
  DeliveryLineSchema,
  type DeliveryOutcome,
} from '../../shared/contract/delivery.ts';
import { signUrl } from '../../shared/signature.ts';
import type { Edge, EdgeDelivery } from '../core/ports.ts';

export class HttpEdge implements Edge {
  private readonly agent: HttpAgent;

  constructor(
    private readonly baseUrl: string,
    private readonly secret: () => Promise<string>,
    // below the delivery function's own timeout (5 min), so a hung edge fails the batch, not the function
    private readonly timeoutMs = 240_000,
  ) {
    const secure = new URL(baseUrl).protocol === 'https:';
    this.agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  }

  async deliver(request: DeliveryBatch, events: { accepted?: () => void } = {}): Promise<EdgeDelivery> {
    const body = JSON.stringify(request);
    const url = new URL('/deliver', this.baseUrl);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...signUrl(await this.secret(), 'POST', url, body),
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const call = send(
        url,
        { method: 'POST', headers, agent: this.agent, signal: AbortSignal.timeout(this.timeoutMs) },
        resolve,
      );
      call.on('error', reject);
      call.end(body);
    });
    response.setEncoding('utf8');
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const text = await new Promise<string>((resolve) => {
        let read = '';
        response.on('data', (chunk: string) => {
          if (read.length < 200) read += chunk;
        });
        response.on('end', () => resolve(read));
        response.on('error', () => resolve(read));
      });
      throw new Error(`edge answered ${status}: ${text.slice(0, 200)}`);
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
    await new Promise<void>((resolve) => {
      // the connection broke, or a line was not ours: keep what was reported so far
      const broken = () => {
        complete = false;
        response.destroy();
        resolve();
      };
      response.on('data', (chunk: string) => {
        pending += chunk;
        let newline = pending.indexOf('\n');
        try {
          while (newline >= 0) {
            take(pending.slice(0, newline));
            pending = pending.slice(newline + 1);
            newline = pending.indexOf('\n');
          }
        } catch {
          broken();
        }
      });
      response.on('end', () => {
        try {
          take(pending);
        } catch {
          complete = false;
        }
        resolve();
      });
      response.on('error', broken);
      response.on('close', () => {
        if (!response.complete) complete = false;
        resolve();
      });
    });
    return { outcomes, complete };
  }
}

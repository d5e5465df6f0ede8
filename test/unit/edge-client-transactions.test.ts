import { describe, expect, it } from 'vitest';
import {
  type ClientOutcome,
  ClientTransactions,
  type OutgoingVia,
  retransmissionTimes,
  type Schedule,
  TRANSPORT_FAILURE_REASON,
  UDP_MAX_REQUEST_BYTES,
} from '../../edge/client-transactions.ts';
import { buildOutgoingRequest, newBranch } from '../../edge/outgoing-request.ts';
import type { SipRequest, SipResponse } from '../../edge/sip/message.ts';
import { buildResponse } from '../../edge/sip/serialize.ts';
import type { SipTarget } from '../../shared/sip/uri.ts';

/** A manual clock: timers run only when the test advances time. */
class FakeClock {
  now = 0;
  private timers: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];

  schedule: Schedule = (callback, ms) => {
    const timer = { at: this.now + ms, callback, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  };

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers
        .filter((timer) => !timer.cancelled && timer.at <= end)
        .sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.now = due.at;
      due.callback();
    }
    this.now = end;
  }
}

const UDP: SipTarget = { transport: 'udp', host: '127.0.0.1', port: 5072 };
const TCP: SipTarget = { transport: 'tcp', host: '127.0.0.1', port: 5072 };

const LOCAL = { host: '127.0.0.1', port: 5060 };

function message(
  via: OutgoingVia | SipTarget,
  method = 'MESSAGE',
  body: Buffer = Buffer.from('hi'),
): SipRequest {
  const parts = 'branch' in via ? via : { target: via, local: LOCAL, branch: newBranch() };
  return buildOutgoingRequest({
    method,
    requestUri: 'sip:bob@127.0.0.1:5072',
    ...parts,
    from: '<sip:alice@example.com>;tag=a1',
    to: '<sip:bob@example.com>',
    callId: 'c1@holdover',
    cseq: 1,
    body,
  });
}

/** Starts a transaction for a MESSAGE (or `method`) to `target`: the request it built, and its outcome. */
function send(
  transactions: ClientTransactions,
  target: SipTarget,
  method = 'MESSAGE',
): { request: SipRequest; outcome: Promise<ClientOutcome> } {
  let request: SipRequest | undefined;
  const outcome = transactions.originate((via) => {
    request = message(via, method);
    return request;
  }, target);
  if (request === undefined) throw new Error('originate built no request');
  return { request, outcome };
}

function response(request: SipRequest, status: number, reason = 'Whatever'): SipResponse {
  return buildResponse(request, status, reason);
}

function setup(options: { failSend?: boolean; timerFMs?: number } = {}) {
  const clock = new FakeClock();
  const sent: number[] = [];
  const transactions = new ClientTransactions({
    local: LOCAL,
    send: async () => {
      sent.push(clock.now);
      if (options.failSend) throw new Error('ECONNREFUSED');
    },
    schedule: clock.schedule,
    ...(options.timerFMs ? { timerFMs: options.timerFMs } : {}),
  });
  return { clock, sent, transactions };
}

describe('Timer E schedule', () => {
  it('doubles from T1 up to T2 until Timer F (RFC 3261 17.1.2.2)', () => {
    expect(retransmissionTimes(500, 4000, 32_000)).toEqual([
      500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ]);
    expect(retransmissionTimes(500, 4000, 2000)).toEqual([500, 1500]);
  });

  it('a UDP request nobody answers is retransmitted on that schedule and ends 408 at Timer F', async () => {
    const { clock, sent, transactions } = setup();
    const { outcome } = send(transactions, UDP);
    clock.advance(32_000);
    expect(await outcome).toEqual({ status: 408, reason: 'Request Timeout' });
    expect(sent).toEqual([0, ...retransmissionTimes(500, 4000, 32_000)]);
    expect(transactions.size).toBe(0);
  });

  it('Timer F is configurable (DELIVERY_TIMEOUT)', async () => {
    const { clock, sent, transactions } = setup({ timerFMs: 2000 });
    const { outcome } = send(transactions, UDP);
    clock.advance(1999);
    expect(transactions.size).toBe(1);
    clock.advance(1);
    expect((await outcome).status).toBe(408);
    expect(sent).toEqual([0, 500, 1500]);
  });

  it('after a provisional response, retransmissions come every T2', async () => {
    const { clock, sent, transactions } = setup();
    const { request, outcome } = send(transactions, UDP);
    clock.advance(600);
    expect(transactions.receive(response(request, 100, 'Trying'))).toBe(true);
    clock.advance(12_000); // now 12 600
    // 500 (Trying), 1500 (the timer set while Trying), then T2 apart: 5500, 9500
    expect(sent).toEqual([0, 500, 1500, 5500, 9500]);
    transactions.receive(response(request, 200, 'OK'));
    expect((await outcome).status).toBe(200);
  });

  it('TCP sends once: no retransmissions, Timer F still applies', async () => {
    const { clock, sent, transactions } = setup();
    const { outcome } = send(transactions, TCP);
    clock.advance(32_000);
    expect((await outcome).status).toBe(408);
    expect(sent).toEqual([0]);
  });
});

describe('response matching', () => {
  it('a final response with the branch and CSeq method resolves; 1xx keeps waiting', async () => {
    const { transactions } = setup();
    const { request, outcome } = send(transactions, UDP);
    expect(transactions.receive(response(request, 180, 'Ringing'))).toBe(true);
    expect(transactions.size).toBe(1);
    const ok = response(request, 200, 'OK');
    expect(transactions.receive(ok)).toBe(true);
    expect(await outcome).toEqual({ status: 200, reason: 'OK', response: ok });
  });

  it('another branch, or the same branch with another CSeq method, does not match', async () => {
    const { clock, transactions } = setup({ timerFMs: 1000 });
    const { request, outcome } = send(transactions, UDP);
    const otherBranch = message(UDP);
    expect(transactions.receive(response(otherBranch, 200, 'OK'))).toBe(false);
    const otherMethod = response(request, 200, 'OK');
    otherMethod.headers = otherMethod.headers.map((header) =>
      header.name === 'cseq' ? { name: 'cseq', value: '1 NOTIFY' } : header,
    );
    expect(transactions.receive(otherMethod)).toBe(false);
    clock.advance(1000);
    expect((await outcome).status).toBe(408);
  });

  it('the first final response wins; a retransmitted one is ignored', async () => {
    const { transactions } = setup();
    const { request, outcome } = send(transactions, UDP);
    expect(transactions.receive(response(request, 480, 'Temporarily Unavailable'))).toBe(true);
    expect(transactions.receive(response(request, 200, 'OK'))).toBe(false);
    expect((await outcome).status).toBe(480);
  });

  it('two transactions live side by side and each gets its own response', async () => {
    const { transactions } = setup();
    const { request: first, outcome: firstOutcome } = send(transactions, UDP);
    const { request: second, outcome: secondOutcome } = send(transactions, UDP, 'NOTIFY');
    transactions.receive(response(second, 481, 'Subscription Does Not Exist'));
    transactions.receive(response(first, 202, 'Accepted'));
    expect((await firstOutcome).status).toBe(202);
    expect((await secondOutcome).status).toBe(481);
  });

  it('a response without a usable Via or CSeq matches nothing', () => {
    const { transactions } = setup();
    const { request } = send(transactions, UDP);
    const broken = response(request, 200, 'OK');
    broken.headers = broken.headers.filter((header) => header.name !== 'via');
    expect(transactions.receive(broken)).toBe(false);
    transactions.close();
  });
});

describe('failures', () => {
  it('a connect or write failure ends with 480 (transport failure)', async () => {
    const { transactions } = setup({ failSend: true });
    const outcome = await send(transactions, TCP).outcome;
    expect(outcome).toEqual({ status: 480, reason: TRANSPORT_FAILURE_REASON, transportFailure: true });
    expect(transactions.size).toBe(0);
  });

  it('close() ends live transactions with 503, and refuses new ones the same way', async () => {
    const { transactions } = setup();
    const { outcome } = send(transactions, UDP);
    transactions.close();
    expect((await outcome).status).toBe(503);
    expect((await send(transactions, UDP).outcome).status).toBe(503);
  });
});

describe('transport choice (RFC 3261 18.1.1)', () => {
  function recording(failTcp = false) {
    const sent: SipTarget[] = [];
    const built: OutgoingVia[] = [];
    const transactions = new ClientTransactions({
      local: LOCAL,
      send: async (_bytes, target) => {
        sent.push(target);
        if (failTcp && target.transport === 'tcp') throw new Error('ECONNREFUSED');
      },
      schedule: new FakeClock().schedule,
    });
    const originate = (body: Buffer) =>
      transactions.originate((via) => {
        built.push(via);
        return message(via, 'MESSAGE', body);
      }, UDP);
    return { transactions, sent, built, originate };
  }
  const big = Buffer.alloc(UDP_MAX_REQUEST_BYTES + 700, 0x61);

  it('a request over 1300 bytes for a UDP target goes over TCP, with a Via saying so; a small one stays on UDP', async () => {
    const { transactions, sent, built, originate } = recording();
    void originate(big);
    await Promise.resolve();
    expect(sent).toEqual([TCP]);
    expect(built.map((via) => via.target.transport)).toEqual(['udp', 'tcp']);
    void originate(Buffer.from('hi'));
    expect(sent.at(-1)).toEqual(UDP);
    transactions.close();
  });

  it('…and as a datagram after all when the UA does not take TCP, with a branch never sent before', async () => {
    const { sent, built, originate } = recording(true);
    const outcome = originate(big);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(sent.map((target) => target.transport)).toEqual(['tcp', 'udp']);
    expect(new Set(built.map((via) => via.branch)).size).toBe(2);
    void outcome;
  });
});

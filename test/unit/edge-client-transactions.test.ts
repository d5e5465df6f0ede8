import { describe, expect, it } from 'vitest';
import {
  ClientTransactions,
  retransmissionTimes,
  type Schedule,
  TRANSPORT_FAILURE_REASON,
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

function message(target: SipTarget, method = 'MESSAGE'): SipRequest {
  return buildOutgoingRequest({
    method,
    requestUri: 'sip:bob@127.0.0.1:5072',
    target,
    local: { host: '127.0.0.1', port: 5060 },
    branch: newBranch(),
    from: '<sip:alice@example.com>;tag=a1',
    to: '<sip:bob@example.com>',
    callId: 'c1@holdover',
    cseq: 1,
    body: Buffer.from('hi'),
  });
}

function response(request: SipRequest, status: number, reason = 'Whatever'): SipResponse {
  return buildResponse(request, status, reason);
}

function setup(options: { failSend?: boolean; timerFMs?: number } = {}) {
  const clock = new FakeClock();
  const sent: number[] = [];
  const transactions = new ClientTransactions({
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
    const outcome = transactions.request(message(UDP), UDP);
    clock.advance(32_000);
    expect(await outcome).toEqual({ status: 408, reason: 'Request Timeout' });
    expect(sent).toEqual([0, ...retransmissionTimes(500, 4000, 32_000)]);
    expect(transactions.size).toBe(0);
  });

  it('Timer F is configurable (DELIVERY_TIMEOUT)', async () => {
    const { clock, sent, transactions } = setup({ timerFMs: 2000 });
    const outcome = transactions.request(message(UDP), UDP);
    clock.advance(1999);
    expect(transactions.size).toBe(1);
    clock.advance(1);
    expect((await outcome).status).toBe(408);
    expect(sent).toEqual([0, 500, 1500]);
  });

  it('after a provisional response, retransmissions come every T2', async () => {
    const { clock, sent, transactions } = setup();
    const request = message(UDP);
    const outcome = transactions.request(request, UDP);
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
    const outcome = transactions.request(message(TCP), TCP);
    clock.advance(32_000);
    expect((await outcome).status).toBe(408);
    expect(sent).toEqual([0]);
  });
});

describe('response matching', () => {
  it('a final response with the branch and CSeq method resolves; 1xx keeps waiting', async () => {
    const { transactions } = setup();
    const request = message(UDP);
    const outcome = transactions.request(request, UDP);
    expect(transactions.receive(response(request, 180, 'Ringing'))).toBe(true);
    expect(transactions.size).toBe(1);
    const ok = response(request, 200, 'OK');
    expect(transactions.receive(ok)).toBe(true);
    expect(await outcome).toEqual({ status: 200, reason: 'OK', response: ok });
  });

  it('another branch, or the same branch with another CSeq method, does not match', async () => {
    const { clock, transactions } = setup({ timerFMs: 1000 });
    const request = message(UDP);
    const outcome = transactions.request(request, UDP);
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
    const request = message(UDP);
    const outcome = transactions.request(request, UDP);
    expect(transactions.receive(response(request, 480, 'Temporarily Unavailable'))).toBe(true);
    expect(transactions.receive(response(request, 200, 'OK'))).toBe(false);
    expect((await outcome).status).toBe(480);
  });

  it('two transactions live side by side and each gets its own response', async () => {
    const { transactions } = setup();
    const first = message(UDP);
    const second = message(UDP, 'NOTIFY');
    const firstOutcome = transactions.request(first, UDP);
    const secondOutcome = transactions.request(second, UDP);
    transactions.receive(response(second, 481, 'Subscription Does Not Exist'));
    transactions.receive(response(first, 202, 'Accepted'));
    expect((await firstOutcome).status).toBe(202);
    expect((await secondOutcome).status).toBe(481);
  });

  it('a response without a usable Via or CSeq matches nothing', () => {
    const { transactions } = setup();
    const request = message(UDP);
    void transactions.request(request, UDP);
    const broken = response(request, 200, 'OK');
    broken.headers = broken.headers.filter((header) => header.name !== 'via');
    expect(transactions.receive(broken)).toBe(false);
    transactions.close();
  });
});

describe('failures', () => {
  it('a connect or write failure ends with 480 (transport failure)', async () => {
    const { transactions } = setup({ failSend: true });
    const outcome = await transactions.request(message(TCP), TCP);
    expect(outcome).toEqual({ status: 480, reason: TRANSPORT_FAILURE_REASON, transportFailure: true });
    expect(transactions.size).toBe(0);
  });

  it('close() ends live transactions with 503, and refuses new ones the same way', async () => {
    const { transactions } = setup();
    const outcome = transactions.request(message(UDP), UDP);
    transactions.close();
    expect((await outcome).status).toBe(503);
    expect((await transactions.request(message(UDP), UDP)).status).toBe(503);
  });
});

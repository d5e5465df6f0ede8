import { afterEach, describe, expect, it } from 'vitest';
import type { ReceivedRequest } from '../../edge/sip/message.ts';
import { ServerTransactions, TIMER_J_UNRELIABLE_MS, transactionKey } from '../../edge/transactions.ts';
import { receivedRequestOf } from '../support/sip-request.ts';

interface RequestParts {
  method?: string;
  via?: string;
  to?: string;
  cseq?: number;
  callId?: string;
}

function request(parts: RequestParts = {}): ReceivedRequest {
  const method = parts.method ?? 'MESSAGE';
  const text = [
    `${method} sip:bob@example.com SIP/2.0`,
    `Via: ${parts.via ?? 'SIP/2.0/UDP client.example.net:5060;branch=z9hG4bKabc'}`,
    `To: ${parts.to ?? '<sip:bob@example.com>'}`,
    'From: <sip:alice@example.net>;tag=a1',
    `Call-ID: ${parts.callId ?? 'call-1@client'}`,
    `CSeq: ${parts.cseq ?? 1} ${method === 'ACK' ? 'ACK' : method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return receivedRequestOf(text);
}

const FINAL = Buffer.from('SIP/2.0 202 Accepted\r\n\r\n');
let clock = 0;
let transactions: ServerTransactions;

function freshTransactions(options: { maxEntries?: number } = {}): ServerTransactions {
  clock = 1_000_000;
  transactions = new ServerTransactions({ now: () => clock, ...options });
  return transactions;
}

afterEach(() => transactions.close());

describe('ServerTransactions', () => {
  it('absorbs a retransmission while the first copy is pending, then answers it from the stored response', () => {
    const serverTransactions = freshTransactions();
    const first = serverTransactions.receive(request(), false);
    expect(first.kind).toBe('new');
    expect(serverTransactions.receive(request(), false)).toEqual({ kind: 'pending' });
    if (first.kind === 'new') serverTransactions.complete(first.key, FINAL, false);
    expect(serverTransactions.receive(request(), false)).toEqual({ kind: 'retransmission', response: FINAL });
  });

  it('keeps a completed UDP transaction for Timer J (32 s) and no longer', () => {
    const serverTransactions = freshTransactions();
    const first = serverTransactions.receive(request(), false);
    if (first.kind === 'new') serverTransactions.complete(first.key, FINAL, false);
    clock += TIMER_J_UNRELIABLE_MS - 1;
    expect(serverTransactions.receive(request(), false).kind).toBe('retransmission');
    clock += 1;
    serverTransactions.sweep();
    expect(serverTransactions.size).toBe(0);
    expect(serverTransactions.receive(request(), false).kind).toBe('new');
  });

  it('ends a TCP transaction with its response (Timer J = 0)', () => {
    const serverTransactions = freshTransactions();
    const first = serverTransactions.receive(request({ via: 'SIP/2.0/TCP c;branch=z9hG4bKtcp' }), true);
    expect(serverTransactions.receive(request({ via: 'SIP/2.0/TCP c;branch=z9hG4bKtcp' }), true).kind).toBe(
      'pending',
    );
    if (first.kind === 'new') serverTransactions.complete(first.key, FINAL, true);
    expect(serverTransactions.size).toBe(0);
  });

  it('tells transactions apart by branch, sent-by and method', () => {
    const serverTransactions = freshTransactions();
    expect(serverTransactions.receive(request(), false).kind).toBe('new');
    expect(
      serverTransactions.receive(
        request({ via: 'SIP/2.0/UDP client.example.net:5060;branch=z9hG4bKother' }),
        false,
      ).kind,
    ).toBe('new');
    expect(
      serverTransactions.receive(
        request({ via: 'SIP/2.0/UDP elsewhere.example.net:5060;branch=z9hG4bKabc' }),
        false,
      ).kind,
    ).toBe('new');
    expect(serverTransactions.receive(request({ method: 'OPTIONS' }), false).kind).toBe('new');
    expect(serverTransactions.size).toBe(4);
  });

  it('matches sent-by hosts case-insensitively and ignores other Via parameters', () => {
    const key = transactionKey(request(), 'MESSAGE');
    const variant = request({
      via: 'SIP/2.0/UDP CLIENT.example.net:5060;received=192.0.2.9;branch=z9hG4bKabc',
    });
    expect(transactionKey(variant, 'MESSAGE')).toBe(key);
  });

  it('absorbs the ACK of an INVITE and then absorbs late INVITE retransmissions', () => {
    const serverTransactions = freshTransactions();
    const invite = serverTransactions.receive(request({ method: 'INVITE' }), false);
    if (invite.kind === 'new') serverTransactions.complete(invite.key, FINAL, false);
    expect(serverTransactions.receive(request({ method: 'INVITE' }), false).kind).toBe('retransmission');
    expect(
      serverTransactions.receive(request({ method: 'ACK', to: '<sip:bob@example.com>;tag=edge' }), false),
    ).toEqual({
      kind: 'ack',
    });
    expect(serverTransactions.receive(request({ method: 'INVITE' }), false).kind).toBe('pending');
  });

  it('answers an ACK that matches nothing with "ack" too (2xx ACKs are not ours to match)', () => {
    expect(freshTransactions().receive(request({ method: 'ACK' }), false)).toEqual({ kind: 'ack' });
  });

  it('falls back to RFC 2543 matching without a magic-cookie branch', () => {
    const serverTransactions = freshTransactions();
    const legacy = { via: 'SIP/2.0/UDP old.example.net', callId: 'legacy@old' };
    const first = serverTransactions.receive(request(legacy), false);
    expect(transactionKey(request(legacy), 'MESSAGE').startsWith('2543')).toBe(true);
    if (first.kind === 'new') serverTransactions.complete(first.key, FINAL, false);
    expect(serverTransactions.receive(request(legacy), false).kind).toBe('retransmission');
    expect(serverTransactions.receive(request({ ...legacy, cseq: 2 }), false).kind).toBe('new');
  });

  it('treats a bare magic cookie as no RFC 3261 branch', () => {
    expect(
      transactionKey(request({ via: 'SIP/2.0/UDP h;branch=z9hG4bK' }), 'MESSAGE').startsWith('2543'),
    ).toBe(true);
  });

  it('stays within its bound by dropping the oldest transactions', () => {
    const serverTransactions = freshTransactions({ maxEntries: 3 });
    for (let cseq = 1; cseq <= 5; cseq++) {
      serverTransactions.receive(request({ via: `SIP/2.0/UDP c;branch=z9hG4bK${cseq}` }), false);
    }
    expect(serverTransactions.size).toBe(3);
    expect(serverTransactions.receive(request({ via: 'SIP/2.0/UDP c;branch=z9hG4bK1' }), false).kind).toBe(
      'new',
    );
    expect(serverTransactions.receive(request({ via: 'SIP/2.0/UDP c;branch=z9hG4bK5' }), false).kind).toBe(
      'pending',
    );
  });

  it('forgets a pending transaction whose handler never finished', () => {
    const serverTransactions = freshTransactions();
    serverTransactions.receive(request(), false);
    clock += 120_000;
    expect(serverTransactions.receive(request(), false).kind).toBe('new');
  });
});

import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../edge/client-transactions.ts';
import { Registrar, registerIntent } from '../../edge/registrar.ts';
import { getHeader, getHeaders, type ReceivedRequest } from '../../edge/sip/message.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { grantedExpiry } from '../../edge/sip-replies.ts';
import type { PresenceReport } from '../../shared/contract/presence.ts';
import { receivedRequest } from '../support/sip-request.ts';

function register(headers: string[], to = 'sip:bob@example.com'): ReceivedRequest {
  const text = [
    `REGISTER sip:example.com SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bKreg1',
    `From: <${to}>;tag=f1`,
    `To: <${to}>`,
    'Call-ID: reg-1@ua',
    'CSeq: 1 REGISTER',
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const message = parseMessage(Buffer.from(text));
  if (message.kind !== 'request') throw new Error('expected a request');
  return receivedRequest(message);
}

describe('grantedExpiry (registration, publication and subscription lifetimes)', () => {
  it.each([
    [undefined, undefined, 3600],
    ['120', undefined, 120],
    [undefined, '300', 300],
    ['120', '300', 120], // the Contact parameter wins over the header
    ['7200', undefined, 3600], // capped
    [undefined, '0', 0],
    ['60', undefined, 60],
  ])('contact %s, header %s → %s s', (param, header, seconds) => {
    expect(grantedExpiry(param, header)).toEqual({ seconds });
  });

  it('1–59 s is too brief: 423 with Min-Expires 60', () => {
    const decision = grantedExpiry('30', undefined);
    expect(decision).toMatchObject({ refusal: { status: 423, reason: 'Interval Too Brief' } });
    if (!('refusal' in decision)) throw new Error('expected a refusal');
    expect(getHeader({ headers: decision.refusal.headers ?? [] }, 'min-expires')).toBe('60');
  });

  it('a value that is not a number is a 400', () => {
    expect(grantedExpiry('soon', undefined)).toMatchObject({ refusal: { status: 400 } });
    expect(grantedExpiry(undefined, '-1')).toMatchObject({ refusal: { status: 400 } });
  });
});

describe('registerIntent (RFC 3261 10.3)', () => {
  it('each Contact gets its own lifetime', () => {
    const intent = registerIntent(
      register([
        'Contact: <sip:bob@127.0.0.1:5072;transport=tcp>;expires=600, "Bob" <sip:bob@10.0.0.2:5060>',
        'Expires: 1800',
      ]),
    );
    expect(intent).toEqual({
      kind: 'update',
      bindings: [
        { contact: 'sip:bob@127.0.0.1:5072;transport=tcp', seconds: 600 },
        { contact: 'sip:bob@10.0.0.2:5060', seconds: 1800 },
      ],
    });
  });

  it('no Contact is a query; Contact: * with Expires: 0 removes all; without Expires: 0 it is refused', () => {
    expect(registerIntent(register([]))).toEqual({ kind: 'fetch' });
    expect(registerIntent(register(['Contact: *', 'Expires: 0']))).toEqual({ kind: 'remove-all' });
    expect(registerIntent(register(['Contact: *']))).toMatchObject({
      kind: 'refused',
      reply: { status: 400 },
    });
  });

  it('one too-brief Contact refuses the whole request', () => {
    expect(
      registerIntent(register(['Contact: <sip:bob@10.0.0.2>;expires=3600, <sip:bob@10.0.0.3>;expires=10'])),
    ).toMatchObject({ kind: 'refused', reply: { status: 423 } });
  });
});

class FakeTimers {
  now = 1_700_000_000_000;
  private timers: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];

  schedule: Schedule = (callback, ms) => {
    const timer = { at: this.now + ms, callback, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  };

  get live(): number {
    return this.timers.filter((timer) => !timer.cancelled).length;
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.cancelled = true;
      this.now = due.at;
      due.callback();
    }
    this.now = end;
  }
}

function registrar() {
  const timers = new FakeTimers();
  const reports: PresenceReport[] = [];
  const instance = new Registrar({
    domains: ['example.com'],
    report: (report) => reports.push(report),
    now: () => timers.now,
    schedule: timers.schedule,
  });
  return { timers, reports, registrar: instance };
}

describe('Registrar', () => {
  it('a REGISTER binds, answers 200 echoing the Contact with expires and a Date, and reports online', () => {
    const { registrar: r, reports } = registrar();
    const reply = r.register(register(['Contact: <sip:bob@127.0.0.1:5072;transport=tcp>', 'Expires: 600']));
    expect(reply.status).toBe(200);
    const headers = { headers: reply.headers ?? [] };
    expect(getHeaders(headers, 'contact')).toEqual(['<sip:bob@127.0.0.1:5072;transport=tcp>;expires=600']);
    expect(getHeader(headers, 'date')).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(reports).toEqual([
      {
        aor: 'sip:bob@example.com',
        state: 'online',
        contact: 'sip:bob@127.0.0.1:5072;transport=tcp',
        expires: 600,
        source: 'register',
      },
    ]);
    expect(r.isRegistered('sip:bob@example.com')).toBe(true);
  });

  it('the AOR is the normalized To URI', () => {
    const { registrar: r, reports } = registrar();
    r.register(register(['Contact: <sip:bob@10.0.0.2>'], 'sips:bob@EXAMPLE.com:5061;transport=tls'));
    expect(reports[0]?.aor).toBe('sip:bob@example.com');
    expect(reports[0]).toMatchObject({ expires: 3600 });
  });

  it('Expires: 0 removes the binding and reports offline', () => {
    const { registrar: r, reports, timers } = registrar();
    r.register(register(['Contact: <sip:bob@10.0.0.2>']));
    const reply = r.register(register(['Contact: <sip:bob@10.0.0.2>', 'Expires: 0']));
    expect(reply.status).toBe(200);
    expect(getHeaders({ headers: reply.headers ?? [] }, 'contact')).toEqual([]);
    expect(reports.at(-1)).toEqual({ aor: 'sip:bob@example.com', state: 'offline', source: 'register' });
    expect(r.isRegistered('sip:bob@example.com')).toBe(false);
    expect(timers.live).toBe(0);
  });

  it('Contact: * removes every binding; offline is reported even when none was known (edge restart)', () => {
    const { registrar: r, reports } = registrar();
    r.register(register(['Contact: *', 'Expires: 0']));
    expect(reports).toEqual([{ aor: 'sip:bob@example.com', state: 'offline', source: 'register' }]);
  });

  it('a binding that lapses makes the AOR offline', () => {
    const { registrar: r, reports, timers } = registrar();
    r.register(register(['Contact: <sip:bob@10.0.0.2>;expires=60']));
    timers.advance(59_999);
    expect(reports).toHaveLength(1);
    timers.advance(1);
    expect(reports.at(-1)).toEqual({ aor: 'sip:bob@example.com', state: 'offline', source: 'register' });
    expect(r.isRegistered('sip:bob@example.com')).toBe(false);
  });

  it('a refresh pushes the lapse back', () => {
    const { registrar: r, reports, timers } = registrar();
    r.register(register(['Contact: <sip:bob@10.0.0.2>;expires=60']));
    timers.advance(50_000);
    r.register(register(['Contact: <sip:bob@10.0.0.2>;expires=60']));
    timers.advance(50_000);
    expect(reports.every((report) => report.state === 'online')).toBe(true);
    timers.advance(10_000);
    expect(reports.at(-1)?.state).toBe('offline');
  });

  it('with two contacts, the newest is reported; when it goes the other remains online', () => {
    const { registrar: r, reports, timers } = registrar();
    r.register(register(['Contact: <sip:bob@10.0.0.2>;expires=600']));
    r.register(register(['Contact: <sip:bob@10.0.0.3>;expires=60']));
    expect(reports.at(-1)).toMatchObject({ state: 'online', contact: 'sip:bob@10.0.0.3' });
    timers.advance(60_000);
    expect(reports.at(-1)).toMatchObject({ state: 'online', contact: 'sip:bob@10.0.0.2', expires: 540 });
  });

  it('a query lists the bindings without reporting anything', () => {
    const { registrar: r, reports } = registrar();
    r.register(register(['Contact: <sip:bob@10.0.0.2>;expires=600']));
    const reply = r.register(register([]));
    expect(getHeaders({ headers: reply.headers ?? [] }, 'contact')).toEqual([
      '<sip:bob@10.0.0.2>;expires=600',
    ]);
    expect(reports).toHaveLength(1);
  });

  it('a domain not served is refused with 404 and nothing is reported', () => {
    const { registrar: r, reports } = registrar();
    expect(r.register(register(['Contact: <sip:eve@10.0.0.9>'], 'sip:eve@elsewhere.org')).status).toBe(404);
    expect(reports).toEqual([]);
  });

  it('too brief → 423 and nothing is bound', () => {
    const { registrar: r, reports } = registrar();
    expect(r.register(register(['Contact: <sip:bob@10.0.0.2>;expires=30'])).status).toBe(423);
    expect(reports).toEqual([]);
    expect(r.isRegistered('sip:bob@example.com')).toBe(false);
  });

  it('close() clears every timer', () => {
    const { registrar: r, timers } = registrar();
    r.register(register(['Contact: <sip:bob@10.0.0.2>, <sip:bob@10.0.0.3>']));
    expect(timers.live).toBe(2);
    r.close();
    expect(timers.live).toBe(0);
  });
});

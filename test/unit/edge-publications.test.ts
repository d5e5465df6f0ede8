import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../edge/client-transactions.ts';
import { PresencePublications } from '../../edge/presence-publications.ts';
import { getHeader, type ReceivedRequest } from '../../edge/sip/message.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import type { PresenceReport } from '../../shared/contract/presence.ts';
import { receivedRequest } from '../support/sip-request.ts';

const PIDF_NS = 'urn:ietf:params:xml:ns:pidf';

function document(basic: 'open' | 'closed', activity?: string): string {
  const person = activity
    ? `<dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" id="p"><rpid:activities><rpid:${activity}/></rpid:activities></dm:person>`
    : '';
  return `<?xml version="1.0"?><presence xmlns="${PIDF_NS}" entity="sip:bob@example.com"><tuple id="t"><status><basic>${basic}</basic></status></tuple>${person}</presence>`;
}

interface PublishOptions {
  body?: string;
  ifMatch?: string;
  expires?: number;
  event?: string;
  contentType?: string;
  to?: string;
}

function publish(options: PublishOptions = {}): ReceivedRequest {
  const body = options.body ?? '';
  const to = options.to ?? 'sip:bob@example.com';
  const lines = [
    `PUBLISH ${to} SIP/2.0`,
    'Via: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bKpub',
    `From: <${to}>;tag=f1`,
    `To: <${to}>`,
    'Call-ID: pub-1@ua',
    'CSeq: 1 PUBLISH',
    `Event: ${options.event ?? 'presence'}`,
    ...(options.expires === undefined ? [] : [`Expires: ${options.expires}`]),
    ...(options.ifMatch === undefined ? [] : [`SIP-If-Match: ${options.ifMatch}`]),
    ...(body ? [`Content-Type: ${options.contentType ?? 'application/pidf+xml'}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  const message = parseMessage(Buffer.from(lines.join('\r\n')));
  if (message.kind !== 'request') throw new Error('expected a request');
  return receivedRequest(message);
}

function setup() {
  const timers: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];
  let now = 0;
  const schedule: Schedule = (callback, ms) => {
    const timer = { at: now + ms, callback, cancelled: false };
    timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  };
  const advance = (ms: number) => {
    now += ms;
    for (const timer of timers) {
      if (!timer.cancelled && timer.at <= now) {
        timer.cancelled = true;
        timer.callback();
      }
    }
  };
  const reports: PresenceReport[] = [];
  let etags = 0;
  const publications = new PresencePublications({
    domains: ['example.com'],
    report: (report) => reports.push(report),
    schedule,
    newEtag: () => `etag${++etags}`,
  });
  return { publications, reports, advance, live: () => timers.filter((timer) => !timer.cancelled).length };
}

const etagOf = (reply: { headers?: { name: string; value: string }[] }) =>
  getHeader({ headers: reply.headers ?? [] }, 'sip-etag');

describe('PUBLISH presence (RFC 3903)', () => {
  it('an initial PUBLISH answers 200 with SIP-ETag and Expires and reports the state', () => {
    const { publications, reports } = setup();
    const reply = publications.publish(publish({ body: document('open', 'busy'), expires: 600 }));
    expect(reply.status).toBe(200);
    expect(etagOf(reply)).toBe('etag1');
    expect(getHeader({ headers: reply.headers ?? [] }, 'expires')).toBe('600');
    expect(reports).toEqual([{ aor: 'sip:bob@example.com', state: 'busy', source: 'publish' }]);
  });

  it('busy, closed and open map to busy, offline and online', () => {
    const { publications, reports } = setup();
    const first = publications.publish(publish({ body: document('open', 'busy') }));
    const second = publications.publish(publish({ body: document('closed'), ifMatch: etagOf(first) }));
    publications.publish(publish({ body: document('open'), ifMatch: etagOf(second) }));
    expect(reports.map((report) => report.state)).toEqual(['busy', 'offline', 'online']);
  });

  it('a refresh (SIP-If-Match, no body) keeps the state, gets a new etag and reports nothing', () => {
    const { publications, reports } = setup();
    const first = publications.publish(publish({ body: document('open', 'away') }));
    const refresh = publications.publish(publish({ ifMatch: etagOf(first), expires: 3600 }));
    expect(refresh.status).toBe(200);
    expect(etagOf(refresh)).toBe('etag2');
    expect(reports).toHaveLength(1);
    // the old etag is gone
    expect(publications.publish(publish({ ifMatch: etagOf(first) })).status).toBe(412);
  });

  it('an unknown etag → 412 Conditional Request Failed', () => {
    const { publications } = setup();
    expect(publications.publish(publish({ ifMatch: 'nope' }))).toMatchObject({
      status: 412,
      reason: 'Conditional Request Failed',
    });
  });

  it('an etag of another AOR does not match', () => {
    const { publications } = setup();
    const alice = publications.publish(publish({ body: document('open'), to: 'sip:alice@example.com' }));
    expect(publications.publish(publish({ ifMatch: etagOf(alice) })).status).toBe(412);
  });

  it('Expires: 0 removes the publication and reports online: no published state, the registration decides', () => {
    const { publications, reports, live } = setup();
    const first = publications.publish(publish({ body: document('open', 'busy') }));
    const removal = publications.publish(publish({ ifMatch: etagOf(first), expires: 0 }));
    expect(removal.status).toBe(200);
    expect(getHeader({ headers: removal.headers ?? [] }, 'expires')).toBe('0');
    expect(reports.at(-1)).toEqual({ aor: 'sip:bob@example.com', state: 'online', source: 'publish' });
    expect(live()).toBe(0);
  });

  it('a publication that lapses falls back the same way', () => {
    const { publications, reports, advance } = setup();
    publications.publish(publish({ body: document('open', 'be-right-back'), expires: 60 }));
    advance(59_000);
    expect(reports).toHaveLength(1);
    advance(1000);
    expect(reports.map((report) => report.state)).toEqual(['brb', 'online']);
  });

  it('when one of two publications ends, the other one’s state is in force', () => {
    const { publications, reports } = setup();
    publications.publish(publish({ body: document('open', 'away') }));
    const phone = publications.publish(publish({ body: document('open', 'on-the-phone') }));
    publications.publish(publish({ ifMatch: etagOf(phone), expires: 0 }));
    expect(reports.map((report) => report.state)).toEqual(['away', 'busy', 'away']);
  });

  it.each([
    ['another event', { event: 'dialog', body: document('open') }, 489],
    ['a foreign domain', { to: 'sip:bob@elsewhere.org', body: document('open') }, 404],
    ['no body and no SIP-If-Match', {}, 400],
    ['malformed PIDF', { body: '<presence><tuple>' }, 400],
    ['another content type', { body: document('open'), contentType: 'application/xml' }, 415],
    ['too brief', { body: document('open'), expires: 10 }, 423],
    ['Expires: 0 without SIP-If-Match', { body: document('open'), expires: 0 }, 400],
  ])('%s → %s', (_, options, status) => {
    const { publications, reports } = setup();
    const reply = publications.publish(publish(options));
    expect(reply.status).toBe(status);
    expect(reports).toEqual([]);
  });

  it('489 names the events we take; a PIDF 400 carries a Warning', () => {
    const { publications } = setup();
    const bad = publications.publish(publish({ event: 'dialog', body: document('open') }));
    expect(getHeader({ headers: bad.headers ?? [] }, 'allow-events')).toBe('presence, message-summary');
    const malformed = publications.publish(publish({ body: '<presence><basic>maybe</basic></presence>' }));
    expect(getHeader({ headers: malformed.headers ?? [] }, 'warning')).toMatch(/^399 holdover ".*basic.*"$/);
  });
});

import { describe, expect, it } from 'vitest';
import { getHeader, getHeaders, type SipRequest } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { buildResponse, serializeRequest, serializeResponse } from '../../edge/sip/serialize.ts';
import { stampReceived } from '../../edge/transport.ts';

function parseRequest(text: string): SipRequest {
  const message = parseMessage(Buffer.from(text.replaceAll('\n', '\r\n')));
  if (message.kind !== 'request') throw new Error('expected a request');
  return message;
}

const REQUEST = parseRequest(
  [
    'MESSAGE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy, SIP/2.0/UDP client.example.net;branch=z9hG4bKclient',
    'Via: SIP/2.0/TCP origin.example.net;branch=z9hG4bKorigin',
    'Max-Forwards: 69',
    'To: "Bob, B." <sip:bob@example.com>',
    'From: Alice <sip:alice@example.net>;tag=49583',
    'Call-ID: asd88asd77a@1.2.3.4',
    'CSeq: 7 MESSAGE',
    'Timestamp: 54',
    'Content-Type: text/plain',
    'Content-Length: 5',
    '',
    'Hello',
  ].join('\n'),
);

describe('buildResponse (RFC 3261 §8.2.6)', () => {
  it('copies every Via value in order, From, To, Call-ID and CSeq, and adds Server', () => {
    const res = buildResponse(REQUEST, 202, 'Accepted', { toTag: 'edge1' });
    expect(res).toMatchObject({ kind: 'response', status: 202, reason: 'Accepted', version: 'SIP/2.0' });
    expect(getHeaders(res, 'via')).toEqual(getHeaders(REQUEST, 'via'));
    expect(getHeader(res, 'from')).toBe('Alice <sip:alice@example.net>;tag=49583');
    expect(getHeader(res, 'to')).toBe('"Bob, B." <sip:bob@example.com>;tag=edge1');
    expect(getHeader(res, 'call-id')).toBe('asd88asd77a@1.2.3.4');
    expect(getHeader(res, 'cseq')).toBe('7 MESSAGE');
    expect(getHeader(res, 'server')).toBe('Holdover');
    expect(getHeader(res, 'max-forwards')).toBeUndefined();
    expect(getHeader(res, 'content-type')).toBeUndefined();
  });

  it('generates a random To tag when none is given', () => {
    const first = parseNameAddr(getHeader(buildResponse(REQUEST, 200, 'OK'), 'to') ?? '').params.tag;
    const second = parseNameAddr(getHeader(buildResponse(REQUEST, 200, 'OK'), 'to') ?? '').params.tag;
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(first).not.toBe(second);
  });

  it('keeps an existing To tag', () => {
    const inDialog = parseRequest(
      'MESSAGE sip:b@h SIP/2.0\nTo: <sip:b@h>;tag=existing\nFrom: <sip:a@h>;tag=1\nCall-ID: c\nCSeq: 2 MESSAGE\nl: 0\n\n',
    );
    expect(getHeader(buildResponse(inDialog, 200, 'OK', { toTag: 'other' }), 'to')).toBe(
      '<sip:b@h>;tag=existing',
    );
  });

  it('adds no To tag to 100 Trying, and echoes Timestamp there', () => {
    const trying = buildResponse(REQUEST, 100, 'Trying');
    expect(getHeader(trying, 'to')).toBe('"Bob, B." <sip:bob@example.com>');
    expect(getHeader(trying, 'timestamp')).toBe('54');
  });

  it('appends the extra headers and the body', () => {
    const res = buildResponse(REQUEST, 503, 'Service Unavailable', {
      headers: [{ name: 'retry-after', value: '30' }],
      body: Buffer.from('later'),
    });
    expect(getHeader(res, 'retry-after')).toBe('30');
    expect(res.body.toString()).toBe('later');
  });
});

describe('serializeRequest / serializeResponse', () => {
  it('writes conventional header names and a Content-Length computed from the body', () => {
    const res = buildResponse(REQUEST, 200, 'OK', {
      toTag: 't',
      headers: [{ name: 'content-length', value: '999' }],
      body: Buffer.from('héllo'),
    });
    const text = serializeResponse(res).toString('utf8');
    expect(text.startsWith('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy')).toBe(
      true,
    );
    expect(text).toContain('\r\nCall-ID: asd88asd77a@1.2.3.4\r\nCSeq: 7 MESSAGE\r\n');
    expect(text).not.toContain('999');
    expect(text.endsWith('Content-Length: 6\r\n\r\nhéllo')).toBe(true);
  });

  it('round-trips a request, binary body included', () => {
    const body = Buffer.from([0, 1, 2, 0xff, 13, 10]);
    const bytes = serializeRequest({ ...REQUEST, body });
    const again = parseMessage(bytes);
    expect(again.kind === 'request' && again.uri).toBe('sip:bob@example.com');
    expect(again.body.equals(body)).toBe(true);
    expect(again.headers.filter((h) => h.name !== 'content-length')).toEqual(
      REQUEST.headers.filter((h) => h.name !== 'content-length'),
    );
  });

  it('refuses values that would inject header lines', () => {
    const res = buildResponse(REQUEST, 200, 'OK', {
      headers: [{ name: 'subject', value: 'x\r\nInjected: y' }],
    });
    expect(() => serializeResponse(res)).toThrow(TypeError);
    expect(() => serializeResponse({ ...res, headers: [], reason: 'OK\nInjected: y' })).toThrow(TypeError);
  });
});

describe('stampReceived (RFC 3261 §18.2.1, RFC 3581 §4)', () => {
  function withTopVia(via: string): SipRequest {
    return parseRequest(`MESSAGE sip:b@h SIP/2.0\nVia: ${via}, SIP/2.0/UDP second.example.com\nl: 0\n\n`);
  }

  it('adds received when the source differs from the sent-by host', () => {
    const stamped = stampReceived(
      withTopVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa'),
      '127.0.0.1',
      40000,
    );
    expect(getHeaders(stamped, 'via')).toEqual([
      'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;received=127.0.0.1',
      'SIP/2.0/UDP second.example.com',
    ]);
  });

  it('fills an empty rport and then always adds received', () => {
    const stamped = stampReceived(
      withTopVia('SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKa'),
      '127.0.0.1',
      40000,
    );
    expect(getHeaders(stamped, 'via')[0]).toBe(
      'SIP/2.0/UDP 127.0.0.1:5060;rport=40000;branch=z9hG4bKa;received=127.0.0.1',
    );
  });

  it('leaves the request alone when the source matches and no rport was asked for', () => {
    const req = withTopVia('SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa');
    expect(stampReceived(req, '127.0.0.1', 5060)).toBe(req);
  });

  it('compares IPv6 sources without brackets', () => {
    const req = withTopVia('SIP/2.0/UDP [::1]:5060;branch=z9hG4bKa');
    expect(stampReceived(req, '::1', 5060)).toBe(req);
  });

  it('leaves an unreadable top Via alone (validation refuses it later)', () => {
    const req = withTopVia('SIP/2.0/UDP 192.0.2.15;;');
    expect(stampReceived(req, '127.0.0.1', 5060)).toBe(req);
  });
});

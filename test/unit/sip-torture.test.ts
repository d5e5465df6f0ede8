// RFC 4475 torture messages, as a UAS receives them. The fixtures are the RFC's messages
// with its <hex>/<allOneLine>/<repeat> notations decoded, CRLF line endings and the exact
// bodies (mpart01 carries its 342-byte binary S/MIME part).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCSeq } from '../../edge/sip/cseq.ts';
import { SipStreamFramer } from '../../edge/sip/framer.ts';
import { getHeader, getHeaders, type SipMessage } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseMessage, SipParseError, validateRequest, validateResponse } from '../../edge/sip/parser.ts';
import { parseVia } from '../../edge/sip/via.ts';
import { aorOf, parseUri } from '../../shared/sip/uri.ts';

function fixture(name: string): Buffer {
  return readFileSync(new URL(`../fixtures/rfc4475/${name}.dat`, import.meta.url));
}

function parse(name: string): SipMessage {
  return parseMessage(fixture(name));
}

describe('RFC 4475 §3.1.1 valid messages', () => {
  it.each([
    'wsinv',
    'intmeth',
    'esc01',
    'escnull',
    'esc02',
    'lwsdisp',
    'longreq',
    'dblreq',
    'semiuri',
    'transports',
    'mpart01',
  ])('%s parses and passes validateRequest', (name) => {
    const message = parse(name);
    expect(message.kind).toBe('request');
    if (message.kind === 'request') expect(validateRequest(message)).toBeNull();
  });

  it.each(['unreason', 'noreason'])('%s parses as a usable response', (name) => {
    const message = parse(name);
    expect(message.kind).toBe('response');
    if (message.kind === 'response') expect(validateResponse(message)).toBeNull();
  });

  it('wsinv (§3.1.1.1): folding, escapes, LWS everywhere, mixed compact forms', () => {
    const message = parse('wsinv');
    expect(message.kind === 'request' && message.uri).toBe('sip:vivekg@chair-dnrc.example.com;unknownparam');
    expect(parseNameAddr(getHeader(message, 'to') ?? '')).toEqual({
      uri: 'sip:vivekg@chair-dnrc.example.com',
      params: { tag: '1918181833n' },
    });
    const from = parseNameAddr(getHeader(message, 'from') ?? '');
    expect(from.displayName).toBe('J Rosenberg \\"');
    expect(from.params).toEqual({ tag: '98asjd8' });
    expect(getHeader(message, 'max-forwards')).toBe('0068');
    expect(parseCSeq(getHeader(message, 'cseq') ?? '')).toEqual({ seq: 9, method: 'INVITE' });
    const vias = getHeaders(message, 'via').map(parseVia);
    expect(vias.map((via) => [via.transport, via.host, via.params.branch])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    expect(getHeader(message, 'subject')).toBe('');
    expect(getHeader(message, 'newfangledheader')).toBe('newfangled value continued newfangled value');
    expect(getHeader(message, 'unknownheaderwithunusualvalue')).toBe(';;,,;;,;');
    const contact = parseNameAddr(getHeaders(message, 'contact')[0] ?? '');
    expect(contact).toEqual({
      displayName: 'Quoted string ""',
      uri: 'sip:jdrosen@example.com',
      params: { newparam: 'newvalue', secondparam: null, q: '0.33' },
    });
    expect(message.body.length).toBe(150);
  });

  it('intmeth (§3.1.1.2): unusual token characters, quoted control characters, UTF-8', () => {
    const message = parse('intmeth');
    expect(message.kind === 'request' && message.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
    const to = parseNameAddr(getHeader(message, 'to') ?? '');
    expect(to.displayName).toBe('BEL:\u0007 NUL:\u0000 DEL:\u007f');
    const from = parseNameAddr(getHeader(message, 'from') ?? '');
    expect(from.displayName).toBe("token1~` token2'+_ token3*%!.-");
    expect(from.params).toEqual({ "fromparam''~+*_!.-%": '"работающий"', tag: "_token~1'+`*%!-." });
    expect(getHeader(message, 'call-id')).toBe('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    expect(getHeader(message, "extensionheader-!.%*+_`'~")).toBe('\ufeff大停電');
  });

  it('esc01 / escnull (§3.1.1.3–4): escapes decode; AORs stay escaped only where needed', () => {
    const esc01 = parse('esc01');
    expect(esc01.kind === 'request' && parseUri(esc01.uri).user).toBe('sips:user@example.com');
    expect(aorOf(parseNameAddr(getHeader(esc01, 'to') ?? '').uri)).toBe('sip:user@example.com');
    expect(parseUri(parseNameAddr(getHeader(esc01, 'from') ?? '').uri).user).toBe('I have spaces');
    expect(parseUri(parseNameAddr(getHeader(esc01, 'contact') ?? '').uri).params).toEqual({
      lr: null,
      name: 'value%41',
    });
    const escnull = parse('escnull');
    expect(aorOf(parseNameAddr(getHeader(escnull, 'to') ?? '').uri)).toBe('sip:null-%00-null@example.com');
    expect(getHeaders(escnull, 'contact').map((value) => parseUri(parseNameAddr(value).uri).user)).toEqual([
      '\u0000',
      '\u0000\u0000',
    ]);
  });

  it('esc02 (§3.1.1.5): % is no escape in methods, quoted strings or header names', () => {
    const message = parse('esc02');
    expect(message.kind === 'request' && message.method).toBe('RE%47IST%45R');
    expect(parseNameAddr(getHeader(message, 'to') ?? '').displayName).toBe('%Z%45');
    expect(getHeaders(message, 'contact')).toHaveLength(2);
    expect(getHeader(message, 'c%6fntact')).toBe('<sip:alias2@host2.example.com>');
  });

  it('longreq (§3.1.1.7): 34 Vias over many spellings of the name, long values', () => {
    const message = parse('longreq');
    const vias = getHeaders(message, 'via');
    expect(vias).toHaveLength(34);
    expect(parseVia(vias[0] ?? '').host).toBe('sip33.example.com');
    expect(parseVia(vias[33] ?? '').params.received).toBe('192.0.2.5');
    expect(parseNameAddr(getHeader(message, 'to') ?? '').displayName).toContain('extremeextreme');
  });

  it('dblreq (§3.1.1.8): a second message in the datagram is discarded', () => {
    const message = parse('dblreq');
    expect(message.kind === 'request' && message.method).toBe('REGISTER');
    expect(message.body.length).toBe(0);
  });

  it('semiuri (§3.1.1.9): ";" in the user part, folded Accept list', () => {
    const message = parse('semiuri');
    expect(message.kind === 'request' && parseUri(message.uri).user).toBe('user;par=u@example.net');
    expect(getHeaders(message, 'accept')).toHaveLength(6);
  });

  it('transports (§3.1.1.10): unknown transports in lower Vias', () => {
    const transports = getHeaders(parse('transports'), 'via').map((via) => parseVia(via).transport);
    expect(transports).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
  });

  it('mpart01 (§3.1.1.11): binary multipart body kept byte for byte, NULs included', () => {
    const bytes = fixture('mpart01');
    const message = parse('mpart01');
    expect(message.body.length).toBe(553);
    expect(message.body.equals(bytes.subarray(bytes.length - 553))).toBe(true);
    expect(message.body.includes(0)).toBe(true);
  });

  it('unreason / noreason (§3.1.1.12–13): UTF-8 and empty reason phrases', () => {
    const unreason = parse('unreason');
    expect(unreason.kind === 'response' && unreason.reason).toBe(
      '= 2**3 * 5**2 но сто девяносто девять - простое',
    );
    const noreason = parse('noreason');
    expect(noreason.kind === 'response' && [noreason.status, noreason.reason]).toEqual([100, '']);
  });

  it('the valid requests frame identically on a stream', () => {
    for (const name of ['wsinv', 'intmeth', 'esc01', 'longreq', 'mpart01']) {
      const items = new SipStreamFramer().push(fixture(name));
      expect(items[0]?.message?.body.equals(parse(name).body)).toBe(true);
    }
  });
});

describe('RFC 4475 §3.1.2 invalid messages (and §3.2–3.3 cases a UAS must refuse)', () => {
  it.each([
    ['badinv01', 400, 'Malformed Via header'], // §3.1.2.1 extraneous separators
    ['clerr', 400, 'Content-Length larger than body'], // §3.1.2.2
    ['ncl', 400, 'Malformed Content-Length'], // §3.1.2.3 negative
    ['scalar02', 400, 'Malformed CSeq header'], // §3.1.2.4 overlarge CSeq
    ['quotbal', 400, 'Malformed To header'], // §3.1.2.6 unterminated quote
    ['ltgtruri', 400, 'Bad Request-URI'], // §3.1.2.7 <> around the Request-URI
    ['lwsruri', 400, 'Bad Request-URI'], // §3.1.2.8 LWS inside the Request-URI
    ['lwsstart', 400, 'Malformed Request-Line'], // §3.1.2.9 several SPs
    ['trws', 400, 'Malformed Request-Line'], // §3.1.2.10 trailing SPs
    ['escruri', 400, 'Bad Request-URI'], // §3.1.2.11 headers in the Request-URI
    ['baddate', 400, 'Malformed Date header'], // §3.1.2.12 not GMT
    ['regbadct', 400, 'Malformed Contact header'], // §3.1.2.13 addr-spec with ? outside <>
    ['badaspec', 400, 'Malformed To header'], // §3.1.2.14 spaces inside <>
    ['baddn', 400, 'Malformed From header'], // §3.1.2.15 comma in unquoted display name
    ['badvers', 505, 'Version Not Supported'], // §3.1.2.16
    ['mismatch01', 400, 'CSeq method does not match request method'], // §3.1.2.17
    ['mismatch02', 400, 'CSeq method does not match request method'], // §3.1.2.18
    ['badbranch', 400, 'Malformed Via branch'], // §3.2.1 bare magic cookie
    ['insuf', 400, 'Missing From'], // §3.3.1 missing mandatory headers
    ['unkscm', 416, 'Unsupported URI Scheme'], // §3.3.2
    ['novelsc', 416, 'Unsupported URI Scheme'], // §3.3.3
    ['multi01', 400, 'Multiple From headers'], // §3.3.8
    ['mcl01', 400, 'Multiple Content-Length headers'], // §3.3.9
  ])('%s is refused with %i %s', (name, status, reason) => {
    const message = parse(name);
    expect(message.kind).toBe('request');
    if (message.kind === 'request') expect(validateRequest(message)).toEqual({ status, reason });
  });

  it('scalarlg (§3.1.2.5): a response with an overlarge CSeq is discarded', () => {
    const message = parse('scalarlg');
    expect(message.kind === 'response' && validateResponse(message)).toBe('Malformed CSeq');
  });

  it('bigcode (§3.1.2.19): a status code that is not three digits cannot be parsed', () => {
    expect(() => parse('bigcode')).toThrow(SipParseError);
  });
});

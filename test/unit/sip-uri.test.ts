import { describe, expect, it } from 'vitest';
import { parseCSeq } from '../../edge/sip/cseq.ts';
import { SipParseError } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseVia } from '../../edge/sip/via.ts';
import { aorOf, parseUri } from '../../shared/sip/uri.ts';

describe('parseUri', () => {
  it('parses a full SIP URI', () => {
    expect(
      parseUri('sips:Alice:secret@EXAMPLE.com:5061;transport=tcp;LR;maddr=x?subject=hi&priority=urgent'),
    ).toEqual({
      scheme: 'sips',
      user: 'Alice',
      password: 'secret',
      host: 'example.com',
      port: 5061,
      params: { transport: 'tcp', lr: null, maddr: 'x' },
      headers: { subject: 'hi', priority: 'urgent' },
    });
  });

  it('percent-decodes the user part and parameters', () => {
    const uri = parseUri('sip:I%20have%20spaces@example.net;%6C%72;n%61me=v%61lue%25%34%31');
    expect(uri.user).toBe('I have spaces');
    expect(uri.params).toEqual({ lr: null, name: 'value%41' });
  });

  it('keeps an IPv6 reference in brackets, lower-cased', () => {
    expect(parseUri('sip:bob@[2001:DB8::1]:5070')).toMatchObject({ host: '[2001:db8::1]', port: 5070 });
  });

  it('accepts the unusual but legal user characters of RFC 4475 §3.1.1.2', () => {
    const uri = parseUri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com");
    expect(uri.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(uri.host).toBe('example.com');
  });

  it('parses tel URIs and checks other schemes only for URI characters', () => {
    expect(parseUri('tel:+1-201-555-0123;ext=42')).toMatchObject({
      scheme: 'tel',
      user: '+1-201-555-0123',
      host: '',
      params: { ext: '42' },
    });
    expect(parseUri('soap.beep://192.0.2.103:3002')).toMatchObject({ scheme: 'soap.beep', host: '' });
  });

  it.each([
    'example.com',
    '<sip:a@example.com>',
    'sip:a b@example.com',
    'sip:a@exa mple.com',
    'sip:a@example.com; lr',
    'sip:a@example.com;;lr',
    'sip:a@example.com:99999',
    'sip:a@example.com:port',
    'sip:a@[::1',
    'sip:@example.com',
    'sip:a@',
    'sip:a@example.com?',
    'tel:not a number',
    'nobody:has space',
  ])('refuses %j', (text) => {
    expect(() => parseUri(text)).toThrow(SipParseError);
  });
});

describe('parseNameAddr', () => {
  it('parses a quoted display name with escapes and commas', () => {
    expect(parseNameAddr('"Rosenberg, J \\"JD\\" \\\\" <sip:jdrosen@example.com>;tag=98asjd8')).toEqual({
      displayName: 'Rosenberg, J "JD" \\',
      uri: 'sip:jdrosen@example.com',
      params: { tag: '98asjd8' },
    });
  });

  it('parses a token display name, even without space before <', () => {
    expect(parseNameAddr('caller<sip:caller@example.com>;tag=323')).toEqual({
      displayName: 'caller',
      uri: 'sip:caller@example.com',
      params: { tag: '323' },
    });
  });

  it('gives parameters after a bare addr-spec to the header, not the URI', () => {
    expect(parseNameAddr('sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n')).toEqual({
      uri: 'sip:vivekg@chair-dnrc.example.com',
      params: { tag: '1918181833n' },
    });
  });

  it('keeps URI parameters inside <> with the URI', () => {
    expect(parseNameAddr('<sip:a@h;lr;transport=tcp>;expires=60;q=0.5;+sip.instance="<urn:x>"')).toEqual({
      uri: 'sip:a@h;lr;transport=tcp',
      params: { expires: '60', q: '0.5', '+sip.instance': '"<urn:x>"' },
    });
  });

  it('keeps parameters named like Object.prototype members as plain own values', () => {
    const parsed = parseNameAddr('<sip:a@h;__proto__=x;constructor>;__proto__=y;toString=z');
    expect(Object.getOwnPropertyNames(parsed.params)).toEqual(['__proto__', 'tostring']);
    expect(parsed.params.tostring).toBe('z');
    expect(Object.getOwnPropertyNames(parseUri(parsed.uri).params)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(parsed.params)).toBe(Object.prototype);
  });

  it.each([
    '"Mr. J. User <sip:j.user@example.com>',
    'Bell, Alexander <sip:a.g.bell@example.com>',
    '"Watson, Thomas" < sip:t.watson@example.org >',
    'sip:user@example.com?Route=%3Csip:sip.example.com%3E',
    '<sip:a@h>;;',
    '<sip:a@h>;tag=a b',
    '<sip:a@h> junk',
    '<sip:a@h',
    '',
  ])('refuses %j', (value) => {
    expect(() => parseNameAddr(value)).toThrow(SipParseError);
  });
});

describe('aorOf', () => {
  it.each([
    ['sip:alice@example.com', 'sip:alice@example.com'],
    ['sips:alice@EXAMPLE.COM:5061;transport=tls?subject=x', 'sip:alice@example.com'],
    ['sip:Alice@example.com', 'sip:Alice@example.com'],
    ['sip:%61lice@example.com', 'sip:alice@example.com'],
    ['sip:I%20have%20spaces@example.net', 'sip:I%20have%20spaces@example.net'],
    ['sip:null-%00-null@example.com', 'sip:null-%00-null@example.com'],
    ['sip:a%2fb@example.com', 'sip:a/b@example.com'],
    ['sip:u%c3%a9@example.com', 'sip:u%C3%A9@example.com'],
    ['sip:user;par=u%40example.net@example.com', 'sip:user;par=u%40example.net@example.com'],
    ['sip:bob:pw@[2001:DB8::1]', 'sip:bob@[2001:db8::1]'],
  ])('normalizes %s to %s', (uri, aor) => {
    expect(aorOf(uri)).toBe(aor);
  });

  it('gives equal AORs for URIs that RFC 3261 §19.1.4 calls equal', () => {
    expect(aorOf('sip:%41lice@Example.COM;transport=udp')).toBe(aorOf('sips:Alice@example.com:5060'));
  });

  it.each(['tel:+15551234567', 'sip:example.com', 'mailto:a@example.com', 'sip:a b@example.com'])(
    'refuses %s',
    (uri) => {
      expect(() => aorOf(uri)).toThrow(SipParseError);
    },
  );
});

describe('parseVia', () => {
  it('parses protocol, transport, sent-by and parameters', () => {
    expect(
      parseVia('SIP/2.0/udp pc33.Atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1'),
    ).toEqual({
      protocol: 'SIP/2.0',
      transport: 'UDP',
      host: 'pc33.atlanta.com',
      port: 5066,
      params: { branch: 'z9hG4bK776asdhds', rport: null, received: '192.0.2.1' },
    });
  });

  it('tolerates linear white space around the slashes and separators (RFC 4475 wsinv)', () => {
    expect(parseVia('SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239')).toEqual({
      protocol: 'SIP/2.0',
      transport: 'UDP',
      host: '192.168.255.111',
      params: { branch: 'z9hG4bK30239' },
    });
  });

  it('parses an IPv6 sent-by', () => {
    expect(parseVia('SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKx')).toMatchObject({
      host: '[2001:db8::9]',
      port: 5070,
    });
  });

  it.each([
    '',
    'SIP/2.0/UDP',
    'SIP/2.0 host',
    'SIP/2.0/UDP 192.0.2.15;;',
    ';',
    'SIP/2.0/UDP h:70000',
    'SIP/2.0/UDP a b',
  ])('refuses %j', (value) => {
    expect(() => parseVia(value)).toThrow(SipParseError);
  });
});

describe('parseCSeq', () => {
  it('parses sequence number and method, leading zeros included', () => {
    expect(parseCSeq('0009  INVITE')).toEqual({ seq: 9, method: 'INVITE' });
    expect(parseCSeq('2147483647 MESSAGE')).toEqual({ seq: 2147483647, method: 'MESSAGE' });
  });

  it.each([
    '2147483648 MESSAGE',
    '36893488147419103232 REGISTER',
    '-1 MESSAGE',
    'MESSAGE',
    '1',
    '1 MES SAGE',
  ])('refuses %j', (value) => {
    expect(() => parseCSeq(value)).toThrow(SipParseError);
  });
});

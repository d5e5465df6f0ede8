import { describe, expect, it } from 'vitest';
import { charsetOf, decodeText, parseContentType } from '../../functions/core/content.ts';
import { InvalidRequestError, UnsupportedMediaError } from '../../shared/errors.ts';

describe('parseContentType', () => {
  it('lower-cases the media type and parameter names, unquotes values', () => {
    expect(parseContentType('Text/Plain; Charset="UTF-8"; x="a;b"')).toEqual({
      mediaType: 'text/plain',
      params: { charset: 'UTF-8', x: 'a;b' },
    });
  });

  it('refuses a malformed value', () => {
    expect(() => parseContentType('plain')).toThrow(InvalidRequestError);
    expect(() => parseContentType('')).toThrow(InvalidRequestError);
  });
});

describe('charsetOf', () => {
  it('defaults to UTF-8 and knows the aliases', () => {
    expect(charsetOf(parseContentType('text/plain')).charset).toBe('utf-8');
    expect(charsetOf(parseContentType('text/plain;charset=latin1')).charset).toBe('iso-8859-1');
    expect(charsetOf(parseContentType('text/plain;charset=CP1252')).charset).toBe('windows-1252');
  });

  it('refuses an unknown charset with 415', () => {
    expect(() => charsetOf(parseContentType('text/plain;charset=koi8-r'))).toThrow(UnsupportedMediaError);
  });
});

describe('decodeText', () => {
  it('decodes UTF-8 with umlauts and emoji exactly', () => {
    const text = 'Grüße 🎉 <b>&</b>';
    expect(decodeText(Buffer.from(text, 'utf8'), 'utf-8')).toBe(text);
  });

  it('refuses invalid UTF-8 instead of producing mojibake', () => {
    expect(() => decodeText(Buffer.from([0x48, 0xc3, 0x28]), 'utf-8')).toThrow(UnsupportedMediaError);
    expect(() => decodeText(Buffer.from([0xff]), 'UTF-8')).toThrow(/not valid UTF-8/);
  });

  it('decodes ISO-8859-1 byte for byte (not as Windows-1252)', () => {
    expect(decodeText(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x80]), 'iso-8859-1')).toBe('Grüße\u0080');
  });

  it('decodes Windows-1252 and refuses its undefined bytes', () => {
    expect(decodeText(Buffer.from([0x80, 0x20, 0x93, 0x68, 0x69, 0x94]), 'windows-1252')).toBe('€ “hi”');
    expect(() => decodeText(Buffer.from([0x41, 0x81]), 'windows-1252')).toThrow(UnsupportedMediaError);
  });

  it('decodes UTF-16 by its byte order mark, either order', () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Hé 🎉', 'utf16le')]);
    expect(decodeText(le, 'utf-16')).toBe('Hé 🎉');
    const be = Buffer.from(le.subarray(2)).swap16();
    expect(decodeText(Buffer.concat([Buffer.from([0xfe, 0xff]), be]), 'UTF-16')).toBe('Hé 🎉');
  });

  it('refuses UTF-16 with an odd length or an unpaired surrogate', () => {
    expect(() => decodeText(Buffer.from([0xff, 0xfe, 0x41]), 'utf-16')).toThrow(UnsupportedMediaError);
    expect(() => decodeText(Buffer.from([0xff, 0xfe, 0x3d, 0xd8, 0x41, 0x00]), 'utf-16')).toThrow(
      /surrogate/,
    );
  });

  it('refuses 8-bit bytes declared as US-ASCII', () => {
    expect(() => decodeText(Buffer.from('Grüße', 'utf8'), 'us-ascii')).toThrow(UnsupportedMediaError);
  });
});

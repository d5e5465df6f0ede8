import { describe, expect, it } from 'vitest';
import { type FramedMessage, MessageTooLargeError, SipStreamFramer } from '../../edge/sip/framer.ts';
import { getHeader, type SipMessage, SipParseError } from '../../edge/sip/message.ts';

function sipMessage(callId: string, body = ''): Buffer {
  return Buffer.from(
    [
      'MESSAGE sip:bob@example.com SIP/2.0',
      'Via: SIP/2.0/TCP client.example.net;branch=z9hG4bK1',
      `Call-ID: ${callId}`,
      'CSeq: 1 MESSAGE',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

function messages(items: FramedMessage[]): SipMessage[] {
  return items.flatMap((item) => (item.message ? [item.message] : []));
}

describe('SipStreamFramer', () => {
  it('frames one complete message', () => {
    const items = new SipStreamFramer().push(sipMessage('one@h', 'hello'));
    expect(items).toHaveLength(1);
    expect(items[0]?.message?.body.toString()).toBe('hello');
  });

  it('frames a message delivered one byte at a time', () => {
    const framer = new SipStreamFramer();
    const bytes = sipMessage('bytes@h', 'split body 👋');
    const framed: SipMessage[] = [];
    for (const byte of bytes) framed.push(...messages(framer.push(Buffer.from([byte]))));
    expect(framed).toHaveLength(1);
    expect(framed[0]?.body.toString()).toBe('split body 👋');
  });

  it('frames a message split inside the header terminator and inside the body', () => {
    const framer = new SipStreamFramer();
    const bytes = sipMessage('split@h', '0123456789');
    const terminator = bytes.indexOf('\r\n\r\n');
    expect(framer.push(bytes.subarray(0, terminator + 2))).toEqual([]);
    expect(framer.push(bytes.subarray(terminator + 2, bytes.length - 4))).toEqual([]);
    const items = framer.push(bytes.subarray(bytes.length - 4));
    expect(messages(items).map((message) => message.body.toString())).toEqual(['0123456789']);
  });

  it('frames several messages in one chunk, with keep-alives between them', () => {
    const chunk = Buffer.concat([
      Buffer.from('\r\n\r\n'),
      sipMessage('first@h', 'a'),
      Buffer.from('\r\n\r\n'),
      sipMessage('second@h', ''),
      sipMessage('third@h', 'ccc'),
    ]);
    const framed = messages(new SipStreamFramer().push(chunk));
    expect(framed.map((message) => getHeader(message, 'call-id'))).toEqual([
      'first@h',
      'second@h',
      'third@h',
    ]);
    expect(framed.map((message) => message.body.toString())).toEqual(['a', '', 'ccc']);
  });

  it('keeps the start of the next message buffered until it is complete', () => {
    const framer = new SipStreamFramer();
    const second = sipMessage('second@h', 'body');
    const first = framer.push(Buffer.concat([sipMessage('first@h', 'x'), second.subarray(0, 20)]));
    expect(messages(first)).toHaveLength(1);
    const rest = framer.push(second.subarray(20));
    expect(messages(rest).map((message) => getHeader(message, 'call-id'))).toEqual(['second@h']);
  });

  it('keeps binary bodies exactly', () => {
    const body = Buffer.from([0, 13, 10, 13, 10, 255, 1]);
    const head = Buffer.from(
      `MESSAGE sip:b@h SIP/2.0\r\nCall-ID: bin@h\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const framed = messages(new SipStreamFramer().push(Buffer.concat([head, body])));
    expect(framed[0]?.body.equals(body)).toBe(true);
  });

  it('refuses a message without Content-Length and then stops', () => {
    const framer = new SipStreamFramer();
    const items = framer.push(Buffer.from('MESSAGE sip:b@h SIP/2.0\r\nCall-ID: x@h\r\n\r\nbody'));
    expect(items).toHaveLength(1);
    expect(items[0]?.error).toBeInstanceOf(SipParseError);
    expect(framer.push(sipMessage('after@h'))).toEqual([]);
  });

  it('refuses an unparsable header section', () => {
    const items = new SipStreamFramer().push(Buffer.from('HELLO\r\n\r\n'));
    expect(items[0]?.error).toBeInstanceOf(SipParseError);
  });

  it('refuses a declared body over the limit as soon as the header section is read', () => {
    const framer = new SipStreamFramer({ maxMessageBytes: 1000 });
    const items = framer.push(
      Buffer.from('MESSAGE sip:b@h SIP/2.0\r\nCall-ID: big@h\r\nContent-Length: 5000\r\n\r\n'),
    );
    const error = items[0]?.error;
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error instanceof MessageTooLargeError && error.head && getHeader(error.head, 'call-id')).toBe(
      'big@h',
    );
  });

  it('does not buffer an endless header section beyond the limit', () => {
    const framer = new SipStreamFramer({ maxMessageBytes: 1000 });
    const line = Buffer.from('X-Filler: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n');
    let error: SipParseError | undefined;
    framer.push(Buffer.from('MESSAGE sip:b@h SIP/2.0\r\n'));
    for (let i = 0; i < 100 && !error; i++) error = framer.push(line)[0]?.error;
    expect(error).toBeInstanceOf(MessageTooLargeError);
  });
});

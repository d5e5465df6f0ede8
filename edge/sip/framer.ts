// Framing SIP messages on a byte stream (TCP), RFC 3261 §18.3: the header section ends at
// the first empty line and Content-Length, mandatory on streams, gives the body size.

import { countHeaders, getHeader, type SipMessage, SipParseError } from './message.ts';
import { findHeadEnd, parseHead, skipLineBreaks } from './parser.ts';

/** The message would exceed the size limit; `head` is set when its header section was read. */
export class MessageTooLargeError extends SipParseError {
  readonly head: SipMessage | undefined;

  constructor(head?: SipMessage) {
    super('Message too large');
    this.name = 'MessageTooLargeError';
    this.head = head;
  }
}

export interface FramedMessage {
  message?: SipMessage;
  error?: SipParseError;
}

export interface FramerOptions {
  /** Largest message (header section plus body) accepted; default 70 000 bytes. */
  maxMessageBytes?: number;
}

const DIGITS = /^[0-9]+$/;
const EMPTY = Buffer.alloc(0);
const LF = 0x0a;

interface AwaitedBody {
  message: SipMessage;
  bodyStart: number;
  /** bodyStart + Content-Length: bytes needed before the message is complete. */
  end: number;
}

/**
 * Turns the chunks of one connection into messages. After an error the stream position is
 * lost, so the framer stops producing anything and the caller closes the connection.
 */
export class SipStreamFramer {
  private readonly maxMessageBytes: number;
  /** Received and not yet framed; kept as chunks while a body is awaited, to copy once. */
  private chunks: Buffer[] = [];
  private bufferedLength = 0;
  /** Bytes at the start of the buffer already searched for the end of the header section. */
  private searched = 0;
  private awaited: AwaitedBody | undefined;
  private failed = false;

  constructor(options: FramerOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? 70_000;
  }

  push(chunk: Buffer): FramedMessage[] {
    if (this.failed || chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.bufferedLength += chunk.length;
    if (!this.awaited && this.chunks.length > 1 && !this.mayEndHead(chunk)) {
      // Still inside a header section: do not copy the buffer together for nothing, which a
      // peer sending tiny segments could otherwise make quadratic.
      return this.bufferedLength > this.maxMessageBytes ? [this.fail(new MessageTooLargeError())] : [];
    }
    const framed: FramedMessage[] = [];
    for (;;) {
      if (this.awaited) {
        if (this.bufferedLength < this.awaited.end) break;
        framed.push(this.completeBody(this.awaited));
        continue;
      }
      const buffer = this.contiguous();
      const start = skipLineBreaks(buffer, 0); // CRLF keep-alives (RFC 5626 §3.5.1)
      if (start > 0) this.consume(buffer, start);
      if (this.bufferedLength === 0) break;
      const current = this.contiguous();
      // The empty line may straddle two chunks, so the search resumes a few bytes back.
      const boundary = findHeadEnd(current, Math.max(0, this.searched - 3));
      if (!boundary) {
        this.searched = current.length;
        if (current.length > this.maxMessageBytes) framed.push(this.fail(new MessageTooLargeError()));
        break;
      }
      const error = this.readHead(current, boundary.headEnd, boundary.bodyStart);
      if (error) {
        framed.push(error);
        break;
      }
    }
    return framed;
  }

  /** Parses a header section and starts waiting for its body; returns an error item on failure. */
  private readHead(buffer: Buffer, headEnd: number, bodyStart: number): FramedMessage | undefined {
    let message: SipMessage;
    try {
      message = parseHead(buffer, 0, headEnd);
    } catch (error) {
      return this.fail(
        error instanceof SipParseError ? error : new SipParseError('Malformed header section'),
      );
    }
    if (countHeaders(message, 'content-length') !== 1) {
      return this.fail(new SipParseError('Content-Length missing or repeated on a stream'));
    }
    const declared = getHeader(message, 'content-length') ?? '';
    if (!DIGITS.test(declared)) return this.fail(new SipParseError('Malformed Content-Length'));
    const end = bodyStart + Number(declared);
    if (end > this.maxMessageBytes) return this.fail(new MessageTooLargeError(message));
    this.awaited = { message, bodyStart, end };
    return undefined;
  }

  private completeBody(awaited: AwaitedBody): FramedMessage {
    const buffer = this.contiguous();
    const { message, bodyStart, end } = awaited;
    // Copied so that a delivered body does not pin the connection's receive buffer.
    message.body = Buffer.from(buffer.subarray(bodyStart, end));
    this.awaited = undefined;
    this.consume(buffer, end);
    return { message };
  }

  /** Whether the empty line ending a header section may end in `chunk` (the newest chunk). */
  private mayEndHead(chunk: Buffer): boolean {
    if (chunk.indexOf(LF) < 0) return false;
    // The terminator is at most 4 bytes (CRLF CRLF), so 3 bytes before the chunk suffice.
    const before: Buffer[] = [];
    let needed = 3;
    for (let i = this.chunks.length - 2; i >= 0 && needed > 0; i--) {
      const previous = this.chunks[i] ?? EMPTY;
      const piece = previous.subarray(Math.max(0, previous.length - needed));
      before.unshift(piece);
      needed -= piece.length;
    }
    return findHeadEnd(Buffer.concat([...before, chunk]), 0) !== null;
  }

  private contiguous(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.bufferedLength)];
    return this.chunks[0] ?? EMPTY;
  }

  private consume(buffer: Buffer, length: number): void {
    const rest = buffer.subarray(length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bufferedLength = rest.length;
    this.searched = 0;
  }

  private fail(error: SipParseError): FramedMessage {
    this.failed = true;
    this.chunks = [];
    this.bufferedLength = 0;
    this.awaited = undefined;
    return { error };
  }
}

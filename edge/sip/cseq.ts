// CSeq header values (RFC 3261 §20.16).
import { SipParseError, TOKEN_CHARS, trimLws } from '../../shared/sip/grammar.ts';

export interface CSeq {
  seq: number;
  method: string;
}

const CSEQ = new RegExp(`^([0-9]{1,10})[ \\t]+([${TOKEN_CHARS}]+)$`);
const MAX_CSEQ = 2 ** 31 - 1;

/** Parses a CSeq value; the sequence number must be 0..2^31-1 (RFC 3261 §8.1.1.5). */
export function parseCSeq(value: string): CSeq {
  const match = CSEQ.exec(trimLws(value));
  if (!match?.[1] || !match[2]) throw new SipParseError('Malformed CSeq');
  const seq = Number(match[1]);
  if (seq > MAX_CSEQ) throw new SipParseError('CSeq number out of range');
  return { seq, method: match[2] };
}

// Presence documents (PIDF, RFC 3863, with RPID activities, RFC 4480) to a Holdover presence
// state. Clients choose their own namespace prefixes (`<basic>`, `<pidf:basic>`, `<rpid:away/>`,
// `<ep:activities>`), so elements are matched by local name. No XML dependency: a small,
// strict reader of the subset presence documents use — elements, attributes, text, CDATA,
// comments, processing instructions and the predefined entities. DTDs are refused (nothing
// to expand, nothing to fetch).

import type { PresenceState } from '../shared/contract/presence.ts';

export class PidfError extends Error {
  override readonly name = 'PidfError';
}

export interface XmlElement {
  /** Local name (after any prefix), as written. */
  name: string;
  children: XmlNode[];
}

export type XmlNode = XmlElement | string;

const MAX_DEPTH = 64;
const MAX_ELEMENTS = 10_000;
const NAME = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?$/;
const ATTRIBUTES = /^(?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*$/;

/** Reads a well-formed XML document into a tree of local names and text; throws PidfError. */
export function parseXml(text: string): XmlElement {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const stack: Array<{ qname: string; element: XmlElement }> = [];
  let root: XmlElement | undefined;
  let elements = 0;
  const fail = (why: string): never => {
    throw new PidfError(`Malformed presence document: ${why}`);
  };
  const appendText = (value: string) => {
    const parent = stack.at(-1);
    if (parent) parent.element.children.push(value);
    else if (value.trim() !== '') fail('text outside the root element');
  };

  while (i < text.length) {
    if (text[i] !== '<') {
      const end = text.indexOf('<', i);
      const raw = text.slice(i, end < 0 ? text.length : end);
      appendText(decodeEntities(raw, fail));
      i = end < 0 ? text.length : end;
      continue;
    }
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) fail('unterminated comment');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i + 9);
      if (end < 0) fail('unterminated CDATA section');
      if (stack.length === 0) fail('CDATA outside the root element');
      appendText(text.slice(i + 9, end));
      i = end + 3;
    } else if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i + 2);
      if (end < 0) fail('unterminated processing instruction');
      i = end + 2;
    } else if (text.startsWith('<!', i)) {
      fail('DTDs and declarations are not accepted');
    } else if (text.startsWith('</', i)) {
      const end = text.indexOf('>', i + 2);
      if (end < 0) fail('unterminated end tag');
      const qname = text.slice(i + 2, end).trim();
      const open = stack.pop();
      if (!open || open.qname !== qname) fail(`unexpected </${qname}>`);
      i = end + 1;
    } else {
      const end = endOfTag(text, i);
      if (end < 0) fail('unterminated start tag');
      const selfClosing = text[end - 1] === '/';
      const inner = text.slice(i + 1, selfClosing ? end - 1 : end);
      const nameEnd = inner.search(/[\s]/);
      const qname = nameEnd < 0 ? inner : inner.slice(0, nameEnd);
      if (!NAME.test(qname)) fail('malformed element name');
      if (nameEnd >= 0 && !ATTRIBUTES.test(inner.slice(nameEnd))) fail(`malformed attributes on <${qname}>`);
      if (++elements > MAX_ELEMENTS) fail('too many elements');
      const element: XmlElement = { name: qname.slice(qname.indexOf(':') + 1), children: [] };
      const parent = stack.at(-1);
      if (parent) parent.element.children.push(element);
      else if (root) fail('more than one root element');
      else root = element;
      if (!selfClosing) {
        if (stack.length >= MAX_DEPTH) fail('elements nested too deeply');
        stack.push({ qname, element });
      }
      i = end + 1;
    }
  }
  if (stack.length > 0) fail(`<${stack.at(-1)?.qname}> is not closed`);
  if (!root) fail('no root element');
  return root as XmlElement;
}

/** Index of the `>` ending the tag starting at `start`, skipping quoted attribute values. */
function endOfTag(text: string, start: number): number {
  let quote: string | undefined;
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '>') {
      return i;
    } else if (ch === '<') {
      return -1;
    }
  }
  return -1;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(raw: string, fail: (why: string) => never): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) fail('unterminated entity reference');
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    const code = /^#x([0-9A-Fa-f]{1,6})$/.exec(name)?.[1] ?? /^#([0-9]{1,7})$/.exec(name)?.[1];
    if (code !== undefined) {
      const value = name.startsWith('#x') ? Number.parseInt(code, 16) : Number(code);
      if (value > 0 && value <= 0x10ffff) return String.fromCodePoint(value);
    }
    return fail(`unknown entity &${name};`);
  });
}

/** Every element below (and including) `element`, depth first. */
function* descendants(element: XmlElement): Generator<XmlElement> {
  yield element;
  for (const child of element.children) {
    if (typeof child !== 'string') yield* descendants(child);
  }
}

function textOf(element: XmlElement): string {
  let text = '';
  for (const child of element.children) text += typeof child === 'string' ? child : textOf(child);
  return text;
}

// RFC 4480 activities (and the non-standard ones clients send) to the states that hold messages.
const ACTIVITY_STATES: ReadonlyMap<string, PresenceState> = new Map([
  ['busy', 'busy'],
  ['on-the-phone', 'busy'],
  ['meeting', 'busy'],
  ['do-not-disturb', 'dnd'],
  ['away', 'away'],
  ['sleeping', 'away'],
  ['vacation', 'away'],
  ['holiday', 'away'],
  ['be-right-back', 'brb'],
]);

// Free text (a <note>, or RPID's <other> activity) that clients use for states RPID lacks.
const TEXT_STATES: ReadonlyArray<[RegExp, PresenceState]> = [
  [/\bdo[\s-]*not[\s-]*disturb\b|\bdnd\b/i, 'dnd'],
  [/\bbe[\s-]*right[\s-]*back\b|\bbrb\b/i, 'brb'],
];

// When several apply, the most specific wins: a "do not disturb" note refines "busy", a
// "be right back" note refines "away".
const PRIORITY: readonly PresenceState[] = ['dnd', 'brb', 'busy', 'away'];

/**
 * The presence state a PIDF document describes: every `<basic>` closed → offline; otherwise the
 * RPID activities and notes decide (busy, dnd, away, brb); open with none of them → online.
 */
export function presenceStateOfPidf(document: string): PresenceState {
  const root = parseXml(document);
  if (root.name !== 'presence')
    throw new PidfError('Malformed presence document: the root is not <presence>');
  const basics: string[] = [];
  const found = new Set<PresenceState>();
  for (const element of descendants(root)) {
    const name = element.name.toLowerCase();
    if (name === 'basic') {
      const basic = textOf(element).trim().toLowerCase();
      if (basic !== 'open' && basic !== 'closed') {
        throw new PidfError(`Malformed presence document: <basic> must be open or closed, not "${basic}"`);
      }
      basics.push(basic);
    } else if (name === 'activities') {
      for (const activity of element.children) {
        if (typeof activity === 'string') continue;
        const state = ACTIVITY_STATES.get(activity.name.toLowerCase());
        if (state) found.add(state);
        if (activity.name.toLowerCase() === 'other') addTextStates(textOf(activity), found);
      }
    } else if (name === 'do-not-disturb') {
      // some clients send it outside <activities>
      found.add('dnd');
    } else if (name === 'note') {
      addTextStates(textOf(element), found);
    }
  }
  if (basics.length > 0 && basics.every((basic) => basic === 'closed')) return 'offline';
  return PRIORITY.find((state) => found.has(state)) ?? 'online';
}

function addTextStates(text: string, found: Set<PresenceState>): void {
  for (const [pattern, state] of TEXT_STATES) {
    if (pattern.test(text)) found.add(state);
  }
}

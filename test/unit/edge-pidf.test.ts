import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PidfError, parseXml, presenceStateOfPidf } from '../../edge/pidf.ts';

const PIDF = 'urn:ietf:params:xml:ns:pidf';
const RPID = 'urn:ietf:params:xml:ns:pidf:rpid';
const DM = 'urn:ietf:params:xml:ns:pidf:data-model';

/** A PIDF document with the default namespace, an open or closed tuple and optional person part. */
function pidf(basic: 'open' | 'closed', person = '', tupleNote = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="${PIDF}" xmlns:rpid="${RPID}" xmlns:dm="${DM}" entity="sip:bob@example.com">
  <tuple id="t1"><status><basic>${basic}</basic></status>${tupleNote}</tuple>
  ${person}
</presence>`;
}

function activities(...names: string[]): string {
  return `<dm:person id="p1"><rpid:activities>${names.map((name) => `<rpid:${name}/>`).join('')}</rpid:activities></dm:person>`;
}

describe('PIDF basic status', () => {
  it('closed → offline, open → online', () => {
    expect(presenceStateOfPidf(pidf('closed'))).toBe('offline');
    expect(presenceStateOfPidf(pidf('open'))).toBe('online');
  });

  it('closed wins over activities and notes (the UA is not reachable)', () => {
    expect(presenceStateOfPidf(pidf('closed', activities('busy'), '<note>Do not disturb</note>'))).toBe(
      'offline',
    );
  });

  it('any open tuple makes the presentity reachable', () => {
    const twoTuples = `<presence xmlns="${PIDF}" entity="sip:bob@example.com">
      <tuple id="phone"><status><basic>closed</basic></status></tuple>
      <tuple id="pc"><status><basic>open</basic></status></tuple></presence>`;
    expect(presenceStateOfPidf(twoTuples)).toBe('online');
  });

  it('basic is read case-insensitively and trimmed', () => {
    expect(presenceStateOfPidf(pidf('closed').replace('>closed<', '> CLOSED\n<'))).toBe('offline');
  });
});

describe('RPID activities (RFC 4480)', () => {
  it.each([
    ['busy', 'busy'],
    ['on-the-phone', 'busy'],
    ['meeting', 'busy'],
    ['do-not-disturb', 'dnd'],
    ['away', 'away'],
    ['sleeping', 'away'],
    ['vacation', 'away'],
    ['holiday', 'away'],
    ['be-right-back', 'brb'],
    ['unknown', 'online'],
    ['breakfast', 'online'],
  ])('<rpid:%s/> → %s', (activity, state) => {
    expect(presenceStateOfPidf(pidf('open', activities(activity)))).toBe(state);
  });

  it('matches local names whatever the prefix (none, odd ones, a default namespace)', () => {
    const odd = `<p:presence xmlns:p="${PIDF}" xmlns:r="${RPID}" entity="sip:bob@example.com">
      <p:tuple id="x"><p:status><p:basic>open</p:basic></p:status></p:tuple>
      <r:person><r:activities><r:on-the-phone/></r:activities></r:person></p:presence>`;
    expect(presenceStateOfPidf(odd)).toBe('busy');
    const defaultNs = `<presence xmlns="${PIDF}"><tuple id="x"><status><basic>open</basic></status></tuple>
      <person xmlns="${DM}"><activities xmlns="${RPID}"><away/></activities></person></presence>`;
    expect(presenceStateOfPidf(defaultNs)).toBe('away');
  });

  it('with no <basic> at all, activities still decide (person-only documents)', () => {
    const personOnly = `<presence xmlns="${PIDF}" xmlns:rpid="${RPID}" entity="sip:bob@example.com">
      <rpid:person id="p"><rpid:activities><rpid:meeting/></rpid:activities></rpid:person></presence>`;
    expect(presenceStateOfPidf(personOnly)).toBe('busy');
  });

  it('the most specific state wins when several apply', () => {
    expect(presenceStateOfPidf(pidf('open', activities('away', 'busy')))).toBe('busy');
    expect(presenceStateOfPidf(pidf('open', activities('busy', 'do-not-disturb')))).toBe('dnd');
  });

  it('a non-standard <do-not-disturb/> outside <activities> → dnd', () => {
    expect(presenceStateOfPidf(pidf('open', '<x:do-not-disturb xmlns:x="urn:example"/>'))).toBe('dnd');
  });
});

describe('notes', () => {
  it.each([
    ['Do not disturb', 'dnd'],
    ['DO-NOT-DISTURB', 'dnd'],
    ['dnd', 'dnd'],
    ['Be right back', 'brb'],
    ['brb, coffee', 'brb'],
    ['In the office', 'online'],
  ])('open with <note>%s</note> → %s', (note, state) => {
    expect(presenceStateOfPidf(pidf('open', '', `<note xml:lang="en">${note}</note>`))).toBe(state);
  });

  it('a note refines an activity: away + "Be right back" → brb, busy + "Do not disturb" → dnd', () => {
    expect(presenceStateOfPidf(pidf('open', activities('away'), '<note>Be right back</note>'))).toBe('brb');
    expect(presenceStateOfPidf(pidf('open', activities('busy'), '<note>Do Not Disturb</note>'))).toBe('dnd');
  });

  it("RPID's <other> activity text counts like a note", () => {
    const other = `<dm:person id="p"><rpid:activities><rpid:other>Be Right Back</rpid:other></rpid:activities></dm:person>`;
    expect(presenceStateOfPidf(pidf('open', other))).toBe('brb');
  });

  it('entities and CDATA in notes are decoded', () => {
    expect(presenceStateOfPidf(pidf('open', '', '<note>Do&#32;not disturb</note>'))).toBe('dnd');
    expect(presenceStateOfPidf(pidf('open', '', '<note><![CDATA[be right <back>]]></note>'))).toBe('online');
    expect(presenceStateOfPidf(pidf('open', '', '<note><![CDATA[be right back]]></note>'))).toBe('brb');
  });
});

describe('comments, CDATA and processing instructions are skipped safely', () => {
  it('markup inside a comment or CDATA is not read as elements', () => {
    const tricky = `<?xml version="1.0"?><!-- <basic>closed</basic> -->
      <presence xmlns="${PIDF}"><tuple id="t"><!-- </tuple> <basic>closed</basic> -->
      <status><basic>open</basic></status>
      <note><![CDATA[<basic>closed</basic></presence>]]></note></tuple></presence>`;
    expect(presenceStateOfPidf(tricky)).toBe('online');
  });

  it('attribute values may contain > and quotes of the other kind', () => {
    const attrs = `<presence xmlns="${PIDF}" entity='sip:"bob"@example.com' x="a>b"><tuple id="t"><status><basic>closed</basic></status></tuple></presence>`;
    expect(presenceStateOfPidf(attrs)).toBe('offline');
  });

  it('a byte order mark is allowed', () => {
    expect(presenceStateOfPidf(`\uFEFF${pidf('open')}`)).toBe('online');
  });
});

describe('malformed documents are refused with a reason', () => {
  it.each([
    ['not XML', 'hello'],
    ['unclosed element', `<presence xmlns="${PIDF}"><tuple>`],
    ['mismatched end tag', `<presence><tuple></status></presence>`],
    ['two roots', `<presence/><presence/>`],
    ['another root', `<status><basic>open</basic></status>`],
    ['bad basic', `<presence><tuple><status><basic>maybe</basic></status></tuple></presence>`],
    ['unterminated comment', `<presence><!-- </presence>`],
    ['DTD', `<!DOCTYPE presence [<!ENTITY x "y">]><presence/>`],
    ['unknown entity', `<presence><note>&x;</note></presence>`],
    ['bare ampersand', `<presence><note>a & b</note></presence>`],
    ['unterminated CDATA', `<presence><note><![CDATA[x</note></presence>`],
    ['text outside the root', `<presence/>trailing`],
    ['broken attributes', `<presence a=b/>`],
    ['empty', ''],
  ])('%s', (_, document) => {
    expect(() => presenceStateOfPidf(document)).toThrow(PidfError);
  });

  it('nesting is bounded', () => {
    const deep = `${'<a>'.repeat(100)}${'</a>'.repeat(100)}`;
    expect(() => parseXml(deep)).toThrow(/nested too deeply/);
  });

  it('never throws anything but PidfError, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          presenceStateOfPidf(text);
        } catch (error) {
          expect(error).toBeInstanceOf(PidfError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

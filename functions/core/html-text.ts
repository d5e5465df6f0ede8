// HTML reduced to readable text, for an alert whose mail has no text part (core/alerts.ts). The
// HTML is written by whoever sent the mail: one pass over it, in time linear in its length
// whatever it holds (regexes such as `<[^>]*>` or `<script[\s\S]*?</script>` rescan to the end
// for every `<` that is never closed: seconds for 256 KiB of `<`), and nothing of it is kept but
// text: no tag, attribute, comment, script, style or head survives, and character references
// never yield control characters. Read as a mail client would: whitespace collapses (except in
// <pre>), blocks and <br> break lines, list items get a dash, table rows a line and cells a tab.

/** Elements whose content is not text to show; `script` and `style` run to the end if unclosed. */
const HIDDEN = new Set(['script', 'style', 'head', 'title', 'template']);
const RAW_TO_END = new Set(['script', 'style']);
const BLOCK = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'caption',
  'center',
  'dd',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'footer',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hr',
  'main',
  'nav',
  'ol',
  'p',
  'pre',
  'section',
  'table',
  'ul',
]);

// HTML 4's Latin-1 names, for U+00A0…U+00FF in order, and the other names mail generators write.
const LATIN1_NAMES =
  'nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml'.split(
    ' ',
  );
const ENTITIES = new Map<string, string>([
  ...LATIN1_NAMES.map((name, i): [string, string] => [name, String.fromCharCode(0xa0 + i)]),
  ['nbsp', ' '],
  ['shy', ''],
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
  ['OElig', 'Œ'],
  ['oelig', 'œ'],
  ['Scaron', 'Š'],
  ['scaron', 'š'],
  ['Yuml', 'Ÿ'],
  ['fnof', 'ƒ'],
  ['circ', 'ˆ'],
  ['tilde', '˜'],
  ['ensp', ' '],
  ['emsp', ' '],
  ['thinsp', ' '],
  ['zwnj', ''],
  ['zwj', ''],
  ['lrm', ''],
  ['rlm', ''],
  ['ndash', '–'],
  ['mdash', '—'],
  ['lsquo', '‘'],
  ['rsquo', '’'],
  ['sbquo', '‚'],
  ['ldquo', '“'],
  ['rdquo', '”'],
  ['bdquo', '„'],
  ['dagger', '†'],
  ['Dagger', '‡'],
  ['bull', '•'],
  ['hellip', '…'],
  ['permil', '‰'],
  ['prime', '′'],
  ['Prime', '″'],
  ['lsaquo', '‹'],
  ['rsaquo', '›'],
  ['euro', '€'],
  ['trade', '™'],
  ['larr', '←'],
  ['uarr', '↑'],
  ['rarr', '→'],
  ['darr', '↓'],
  ['harr', '↔'],
  ['check', '✓'],
]);

/** Windows-1252's characters for 0x80–0x9F (0: undefined), as HTML maps numeric references there. */
export const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0,
  0x017d, 0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0, 0x017e, 0x0178,
];

/** A numeric reference's character: never a control character, a surrogate or past U+10FFFF. */
function characterOf(code: number): string {
  if (code === 0x09 || code === 0x0a) return String.fromCharCode(code);
  if (code >= 0x80 && code <= 0x9f) {
    const mapped = CP1252_HIGH[code - 0x80] ?? 0;
    return mapped === 0 ? '\uFFFD' : String.fromCharCode(mapped);
  }
  if (code < 0x20 || code === 0x7f || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\uFFFD';
  return String.fromCodePoint(code);
}

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(
    /&(?:#[xX]([0-9a-fA-F]{1,8})|#(\d{1,9})|([a-zA-Z][a-zA-Z0-9]{1,31}));/g,
    (whole, hex, dec, name) => {
      if (hex !== undefined) return characterOf(Number.parseInt(hex, 16));
      if (dec !== undefined) return characterOf(Number(dec));
      return ENTITIES.get(name) ?? ENTITIES.get(name.toLowerCase()) ?? whole;
    },
  );
}

/** The index of the `>` that ends the tag opened before `from`, quoted attribute values skipped; -1 if none. */
function tagEnd(html: string, from: number): number {
  let i = from;
  while (i < html.length) {
    const char = html[i];
    if (char === '>') return i;
    if (char === '=') {
      i++;
      while (i < html.length && /\s/.test(html[i] ?? '')) i++;
      const quote = html[i];
      if (quote === '"' || quote === "'") {
        const close = html.indexOf(quote, i + 1);
        if (close < 0) return -1;
        i = close + 1;
        continue;
      }
      continue;
    }
    i++;
  }
  return -1;
}

/**
 * Where `</name` next starts at or after a position. Positions only move forward, so one search
 * answers every question up to its match, and a search that found nothing answers all later ones.
 */
function closerFinder(html: string, name: string): (from: number) => number {
  const pattern = new RegExp(`</${name}[\\s/>]`, 'gi');
  let searchedFrom = -1;
  let found = -1;
  return (from) => {
    if (searchedFrom >= 0 && from >= searchedFrom && (found < 0 || found >= from)) return found;
    pattern.lastIndex = from;
    found = pattern.exec(html)?.index ?? -1;
    searchedFrom = from;
    return found;
  };
}

const TAG_NAME = /<\/?([a-zA-Z][a-zA-Z0-9-]{0,31})/y;

/** HTML reduced to text: no scripts, styles, comments or tags; blocks and line breaks become new lines. */
export function htmlToText(html: string): string {
  const out: string[] = [];
  let afterSpace = true;
  let pre = 0;
  const closers = new Map<string, (from: number) => number>();
  const emit = (piece: string) => {
    if (piece === '') return;
    out.push(piece);
    afterSpace = /[ \t\n]$/.test(piece);
  };
  const text = (raw: string) => {
    if (pre > 0) {
      emit(decodeEntities(raw.replace(/\r\n?/g, '\n')));
      return;
    }
    let collapsed = raw.replace(/[ \t\n\r\f\v]+/g, ' ');
    if (afterSpace) collapsed = collapsed.replace(/^ /, '');
    emit(decodeEntities(collapsed));
  };
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      text(html.slice(i));
      break;
    }
    if (lt > i) text(html.slice(i, lt));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      i = end < 0 ? html.length : end + 3;
      continue;
    }
    if (!/[a-zA-Z/!?]/.test(html[lt + 1] ?? '')) {
      text('<'); // a `<` that opens no tag is text, as in a browser
      i = lt + 1;
      continue;
    }
    const end = tagEnd(html, lt + 1);
    if (end < 0) break; // a tag never closed: the rest is inside it
    i = end + 1;
    TAG_NAME.lastIndex = lt;
    const tag = TAG_NAME.exec(html);
    if (tag === null) continue; // <!DOCTYPE …>, <?xml …?>, </ >
    const name = (tag[1] ?? '').toLowerCase();
    const closing = html[lt + 1] === '/';
    if (!closing && HIDDEN.has(name) && html[end - 1] !== '/') {
      let findCloser = closers.get(name);
      if (findCloser === undefined) {
        findCloser = closerFinder(html, name);
        closers.set(name, findCloser);
      }
      const closer = findCloser(i);
      if (closer >= 0) {
        const closerEnd = html.indexOf('>', closer);
        i = closerEnd < 0 ? html.length : closerEnd + 1;
      } else if (RAW_TO_END.has(name)) {
        break; // an unclosed script or style: the rest is its content
      }
      continue;
    }
    if (name === 'br') emit('\n');
    else if (name === 'li' && !closing) emit('\n- ');
    else if ((name === 'td' || name === 'th') && closing) emit('\t');
    else if (name === 'tr' && !closing)
      emit('\n'); // rows one to a line, no blank between
    else if (BLOCK.has(name)) {
      emit('\n');
      if (name === 'pre') pre = closing ? Math.max(0, pre - 1) : pre + 1;
    }
  }
  return tidyText(out.join(''));
}

/** Trailing spaces gone, at most one blank line in a row, no blank lines at the ends. */
export function tidyText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map(trimLineEnd)
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** A line without its trailing spaces and tabs (a loop: `/[ \t]+$/` is quadratic on a run of spaces). */
function trimLineEnd(line: string): string {
  let end = line.length;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  return end === line.length ? line : line.slice(0, end);
}

// The inbound mail parser (functions/adapters/mail-parser.ts, postal-mime) on real MIME samples
// where a parser's choices show: charsets (Windows-1252 and Latin-1 on a Node whose TextDecoder
// reads them as Latin-1, UTF-16, Japanese), encoded words, HTML-only mail reduced to text by the
// core (scripts, styles, comments, entities, hostile markup), a mail with no text part, XML,
// forwarded mail, and a mail past the parser's limits (refused with a reason, never retried).
import { describe, expect, it } from 'vitest';
import {
  MAX_MAIL_BYTES,
  MAX_MAIL_LINES,
  MalformedMailError,
  parseMail,
} from '../../functions/adapters/mail-parser.ts';
import { alertBody, htmlToText, mailText } from '../../functions/core/alerts.ts';

const INBOUND = 'ops@alerts.example.com';
const envelope = { from: 'bounce@mon.example.org', to: [INBOUND] };
const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');

function plain(charset: string, encoding: string, body: string): Buffer {
  return Buffer.from(
    crlf(
      `From: a@mon.example.org\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=${charset}\nContent-Transfer-Encoding: ${encoding}\n\n${body}\n`,
    ),
    'latin1',
  );
}

const textOf = async (raw: Buffer) => mailText(await parseMail(raw, envelope));

describe('parseMail: charsets', () => {
  it('reads Windows-1252 quoted-printable with its smart quotes, euro sign and dashes', async () => {
    expect(
      await textOf(plain('windows-1252', 'quoted-printable', '=93Disk=94 at 92 =80 =96 db1=85 =\nnow')),
    ).toBe('“Disk” at 92 € – db1… now');
  });

  it('reads ISO-8859-1 as mail clients do (its 0x80–0x9F as Windows-1252), and plain Latin-1 letters', async () => {
    expect(await textOf(plain('iso-8859-1', 'quoted-printable', 'caf=E9 l=92h=F4te'))).toBe('café l’hôte');
    expect(await textOf(plain('iso-8859-1', '8bit', 'Gr\xfc\xdfe \xe0 tous'))).toBe('Grüße à tous');
  });

  it('reads UTF-16 (either byte order mark), Shift_JIS, EUC-JP and ISO-2022-JP', async () => {
    const b64 = (bytes: Buffer | number[]) => Buffer.from(bytes).toString('base64');
    const bigEndian = Buffer.from('\ufeffサーバー停止 ok', 'utf16le').swap16();
    expect(await textOf(plain('utf-16', 'base64', b64(bigEndian)))).toBe('サーバー停止 ok');
    expect(await textOf(plain('utf-16be', 'base64', b64(bigEndian.subarray(2))))).toBe('サーバー停止 ok');
    expect(
      await textOf(plain('utf-16', 'base64', b64(Buffer.from('\ufeffサーバー停止 ok', 'utf16le')))),
    ).toBe('サーバー停止 ok');
    // 日本語 in Shift_JIS and in EUC-JP
    expect(await textOf(plain('shift_jis', 'base64', b64([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea])))).toBe(
      '日本語',
    );
    expect(await textOf(plain('euc-jp', 'base64', b64([0xc6, 0xfc, 0xcb, 0xdc, 0xb8, 0xec])))).toBe('日本語');
    expect(await textOf(plain('iso-2022-jp', '7bit', '\x1b$BF|K\\8l\x1b(B'))).toBe('日本語');
  });

  it('decodes encoded words in Subject and From (B and Q, several charsets, adjacent words joined)', async () => {
    const mail = await parseMail(
      Buffer.from(
        crlf(
          'From: =?UTF-8?B?5pel5pys?= =?ISO-8859-1?Q?Caf=E9?= <Ops@Mon.example.org>\nSubject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= =?UTF-8?Q?_alert?= and =?windows-1252?Q?=93quoted=94_=80?=\nMessage-ID:  <enc-1@mon.example.org> \n\nbody\n',
        ),
      ),
      envelope,
    );
    expect(mail).toMatchObject({
      from: 'Ops@Mon.example.org',
      fromName: '日本Café',
      subject: '日本語 alert and “quoted” €',
      messageId: '<enc-1@mon.example.org>',
    });
  });
});

describe('parseMail: what a member reads', () => {
  it('reduces an HTML-only mail to its text: no script, style, comment, head or tag; entities decoded', async () => {
    const html = Buffer.from(
      '<!DOCTYPE html><html><head><title>Report</title><style>p { color: red }</style><script>alert("x")</script></head>' +
        '<body><!-- tracking <p>hidden</p> --><h1>Backup</h1><p onclick="steal()" title="a > b">Job &amp; report <b>failed</b>&nbsp;&#8212; see&nbsp;below</p>' +
        '<table><tr><th>host</th><th>state</th></tr><tr><td>db1</td><td>&lt;down&gt;</td></tr></table>' +
        '<pre>  line 1\n    line 2</pre><script>document.write("<p>injected</p>")</script><p>caf&eacute; &AMP; &copy; &#x1F600; &bogus; x &lt; y</p></body></html>',
    ).toString('base64');
    const mail = await parseMail(
      Buffer.from(
        crlf(
          `From: a@mon.example.org\nSubject: h\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${html}\n`,
        ),
      ),
      envelope,
    );
    expect(mail.text).toBeUndefined();
    expect(mailText(mail)).toBe(
      'Backup\n\nJob & report failed — see below\n\nhost\tstate\ndb1\t<down>\n\n  line 1\n    line 2\n\ncafé & © 😀 &bogus; x < y',
    );
  });

  it('keeps hostile markup out in time linear in its size (unclosed tags, comments, scripts, quotes)', () => {
    const n = 200_000;
    expect(htmlToText(`ok ${'<'.repeat(n)}`)).toBe(`ok ${'<'.repeat(n)}`);
    expect(htmlToText(`ok <b>${'<a '.repeat(n)}`)).toBe('ok');
    expect(htmlToText(`ok ${'<!--'.repeat(n)}`)).toBe('ok');
    expect(htmlToText(`ok ${'<script>'.repeat(n)}`)).toBe('ok');
    expect(htmlToText(`ok ${'<head>x'.repeat(n)}`)).toBe(`ok ${'x'.repeat(n)}`);
    expect(htmlToText(`ok ${'<p>'.repeat(n)}z`)).toBe('ok\n\nz');
    expect(htmlToText(`ok <a title="${'>'.repeat(n)}">link</a>`)).toBe('ok link');
    expect(htmlToText(`ok <a title="${'x'.repeat(n)}`)).toBe('ok');
    expect(htmlToText(`ok${' '.repeat(n)}x${' \t'.repeat(n)}\n`)).toBe('ok x');
    expect(htmlToText(`&#x${'f'.repeat(n)};&${'a'.repeat(n)}`)).toBe(`&#x${'f'.repeat(n)};&${'a'.repeat(n)}`);
  });

  it('never yields control characters from character references (C1 as Windows-1252, as HTML does)', () => {
    expect(htmlToText('a&#27;[2Jb&#0;c&#x7f;d&#150;e&#x80;f&#xD800;g&#1114112;h&#10;i')).toBe(
      'a\uFFFD[2Jb\uFFFDc\uFFFDd–e€f\uFFFDg\uFFFDh\ni',
    );
  });

  it('takes every text part of a mixed mail (HTML ones as text) and skips attachments', async () => {
    const mail = await parseMail(
      Buffer.from(
        crlf(
          'From: a@mon.example.org\nSubject: m\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\nplain part\n--b\nContent-Type: text/html; charset=utf-8\n\n<p>html <b>part</b></p>\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="r.pdf"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n',
        ),
      ),
      envelope,
    );
    expect(mailText(mail)).toBe('plain part\n\nhtml part');
  });

  it('makes a mail with no text part (an image only, or no body) the subject alone', async () => {
    const image = await parseMail(
      Buffer.from(
        crlf(
          'From: cam@mon.example.org\nSubject: Motion at door\nMIME-Version: 1.0\nContent-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n/9j/4AAQSkZJRgABAQ==\n',
        ),
      ),
      envelope,
    );
    expect(mailText(image)).toBe('');
    expect(alertBody(image.subject ?? '', mailText(image), 1000)).toBe('Motion at door');
    const empty = await parseMail(Buffer.from('From: a@mon.example.org\r\nSubject: empty\r\n'), envelope);
    expect(empty).toMatchObject({ from: 'a@mon.example.org', subject: 'empty' });
    expect(mailText(empty)).toBe('');
  });

  it('reads a nested XML part by its XML declaration, and a forwarded mail with its headers', async () => {
    const xml = await parseMail(
      Buffer.from(
        crlf(
          'From: a@mon.example.org\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: application/cap+xml\n\n<?xml version="1.0" encoding="windows-1252"?><alert>\x93caf\xe9\x94</alert>\n--b--\n',
        ),
        'latin1',
      ),
      envelope,
    );
    expect(mailText(xml)).toBe('<?xml version="1.0" encoding="windows-1252"?><alert>“café”</alert>');
    const forwarded = await parseMail(
      Buffer.from(
        crlf(
          'From: a@mon.example.org\nSubject: Fwd: disk\nMIME-Version: 1.0\nContent-Type: message/rfc822\n\nFrom: nagios@mon.example.org\nSubject: disk\n\ndb1 at 92%\n',
        ),
      ),
      envelope,
    );
    expect(mailText(forwarded)).toContain('db1 at 92%');
  });
});

describe('parseMail: limits', () => {
  it('bounds the text, subject and sender name it keeps', async () => {
    const mail = await parseMail(
      Buffer.from(
        crlf(
          `From: "${'n'.repeat(500)}" <a@mon.example.org>\nSubject: ${'s'.repeat(2000)}\n\n${'x'.repeat(400_000)}\n`,
        ),
      ),
      envelope,
    );
    expect(mail.fromName).toHaveLength(200);
    expect(mail.subject).toHaveLength(998);
    expect(mail.text).toHaveLength(256 * 1024);
  });

  // (a mail of MAX_MAIL_LINES lines is parsed: a few seconds on a busy machine)
  it('refuses, saying why, a mail past the parser limits, with too many lines or too large', {
    timeout: 30_000,
  }, async () => {
    const nested = `From: a@mon.example.org\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n${'--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n'.repeat(100)}`;
    await expect(parseMail(Buffer.from(nested), envelope)).rejects.toThrow(MalformedMailError);
    await expect(parseMail(Buffer.from(nested), envelope)).rejects.toThrow(
      /^the mail is not readable MIME: Maximum MIME nesting depth of 64 levels exceeded$/,
    );
    const headers = `X-Long: ${'a'.repeat(1024 * 1024 + 10)}\r\n\r\nbody`;
    await expect(parseMail(Buffer.from(headers), envelope)).rejects.toThrow(/header size/);
    const lines = (count: number) =>
      Buffer.from(`From: a@mon.example.org\r\n\r\n${'a\r\n'.repeat(count - 3)}`);
    await expect(parseMail(lines(MAX_MAIL_LINES + 1), envelope)).rejects.toThrow(
      `the mail has more than ${MAX_MAIL_LINES} lines`,
    );
    expect((await parseMail(lines(MAX_MAIL_LINES), envelope)).text).toMatch(/^a\na\n/);
    await expect(parseMail(new Uint8Array(MAX_MAIL_BYTES + 1), envelope)).rejects.toThrow(
      `the mail is larger than ${MAX_MAIL_BYTES} bytes`,
    );
  });
});

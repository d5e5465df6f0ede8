// An independent SMTP client for end-to-end tests: Python's smtplib, run as a child process. It
// sends one raw mail and reports how the server answered (the code and text of the first refusal,
// or 250), so a test sees exactly what a mail client would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const SCRIPT = `
import json, smtplib, sys
port, sender, recipients = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
raw = sys.stdin.buffer.read()
try:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo()
        size = client.esmtp_features.get("size", "")
        refused = client.sendmail(sender, recipients, raw)
        print(json.dumps({"code": 250, "text": "", "refused": {k: v[0] for k, v in refused.items()}, "size": size}))
except smtplib.SMTPRecipientsRefused as error:
    code, text = list(error.recipients.values())[0]
    print(json.dumps({"code": code, "text": text.decode(), "stage": "rcpt"}))
except smtplib.SMTPDataError as error:
    print(json.dumps({"code": error.smtp_code, "text": error.smtp_error.decode(), "stage": "data"}))
except smtplib.SMTPSenderRefused as error:
    print(json.dumps({"code": error.smtp_code, "text": error.smtp_error.decode(), "stage": "mail"}))
`;

export interface SmtpAnswer {
  code: number;
  text: string;
  stage?: 'rcpt' | 'data' | 'mail';
  /** The SIZE the server announced (EHLO). */
  size?: string;
}

export async function sendMail(
  port: number,
  from: string,
  to: string[],
  raw: string | Buffer,
): Promise<SmtpAnswer> {
  const child = run('python3', ['-c', SCRIPT, String(port), from, to.join(',')], { timeout: 30_000 });
  child.child.stdin?.end(raw);
  const { stdout } = await child;
  return JSON.parse(stdout) as SmtpAnswer;
}

/** A raw mail with CRLF line ends. */
export function rawMail(headers: Record<string, string>, body: string): string {
  return `${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n')}\r\n\r\n${body.replace(/\r?\n/g, '\r\n')}`;
}

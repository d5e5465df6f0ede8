// The local inbound SMTP listener (docs/design.md "Alerts from email", "Local run": SMTP_PORT):
// the stand-in for SES's receipt rule. It binds 127.0.0.1 only and asks for no authentication
// (loopback); it refuses at RCPT TO an address that is no group's inbound address (550), at the
// end of DATA a sender the group does not allow (550, saying why), and a mail over the size limit
// (SIZE extension, 552). What it accepts goes to the same use case as the AWS function.
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { MAX_MAIL_BYTES } from '../functions/adapters/mail-parser.ts';
import type { AlertResult } from '../functions/core/alerts.ts';

export interface SmtpDeps {
  /** Whether `address` is some group's inbound address. */
  isInbound: (address: string) => Promise<boolean>;
  receive: (raw: Buffer, envelope: { from?: string; to: string[] }) => Promise<AlertResult>;
  onError?: (error: unknown) => void;
  /** Default MAX_MAIL_BYTES. */
  maxBytes?: number;
}

/** An SMTP reply: the server sends `code` and the text (smtp-server reads `responseCode`). */
function reply(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

const addressOf = (address: SMTPServerAddress | false) => (address ? address.address : undefined);

export function createSmtpServer(deps: SmtpDeps): SMTPServer {
  const maxBytes = deps.maxBytes ?? MAX_MAIL_BYTES;
  return new SMTPServer({
    name: 'holdover.localhost',
    banner: 'Holdover alerts from email (local)',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: maxBytes,
    maxClients: 20,
    socketTimeout: 30_000,
    closeTimeout: 2000,
    logger: false,
    onRcptTo(address, _session, callback) {
      deps.isInbound(address.address).then(
        (known) =>
          callback(
            known ? null : reply(550, `5.1.1 <${address.address}>: no group has this inbound address`),
          ),
        (error: unknown) => {
          deps.onError?.(error);
          callback(reply(451, '4.3.0 cannot look the address up now; try again later'));
        },
      );
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        if (!stream.sizeExceeded) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(reply(552, `5.3.4 the mail is larger than ${maxBytes} bytes`));
          return;
        }
        const from = addressOf(session.envelope.mailFrom);
        deps
          .receive(Buffer.concat(chunks), {
            ...(from ? { from } : {}),
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          })
          .then(
            (result) => {
              if (result.status === 'refused') callback(reply(550, `5.7.1 refused: ${result.message}`));
              else if (result.status === 'duplicate') callback(null, 'already dispatched (same Message-ID)');
              else
                callback(null, `alert dispatched to ${result.alerts.map((alert) => alert.group).join(', ')}`);
            },
            (error: unknown) => {
              deps.onError?.(error);
              callback(reply(451, '4.3.0 the alert could not be stored now; try again later'));
            },
          );
      });
    },
  });
}

/**
 * The listener, kept listening: a server that fails (its port taken meanwhile, an error) is
 * started again after a pause, as the other parts are (local/supervisor.ts).
 */
export class SmtpListener {
  private server: SMTPServer | undefined;
  private stopped = false;
  listening = false;

  constructor(
    private readonly port: number,
    private readonly deps: SmtpDeps,
    private readonly progress: (line: string) => void,
  ) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createSmtpServer(this.deps);
      this.server = server;
      let started = false;
      server.on('error', (error) => {
        this.deps.onError?.(error);
        if (!started) {
          reject(error);
          return;
        }
        this.listening = false;
        this.restartLater(server);
      });
      server.listen(this.port, '127.0.0.1', () => {
        started = true;
        this.listening = true;
        resolve();
      });
    });
  }

  private restartLater(failed: SMTPServer): void {
    if (this.stopped) return;
    failed.close(() => undefined);
    this.progress('SMTP listener failed; restarting in 2s');
    setTimeout(() => {
      if (this.stopped) return;
      this.start().catch(() => this.restartLater(this.server ?? failed));
    }, 2000).unref();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.listening = false;
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

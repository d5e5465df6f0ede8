// The local SMTP listener (local/smtp.ts) on its own, with Python's smtplib as the client: it
// binds 127.0.0.1 only, announces SIZE and refuses a larger mail (552), refuses at RCPT TO an
// address that is no group's (550), hands the raw mail and envelope to the use case and answers
// its refusal (550 with its text) or a store failure (451, try later).

import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertResult } from '../../functions/core/alerts.ts';
import { type SmtpDeps, SmtpListener } from '../../local/smtp.ts';
import { freePort } from '../support/ports.ts';
import { rawMail, sendMail } from '../support/smtp.ts';

const listeners: SmtpListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.stop()));
});

async function listen(deps: Partial<SmtpDeps> = {}) {
  const port = await freePort();
  const received: Array<{ raw: string; envelope: { from?: string; to: string[] } }> = [];
  const listener = new SmtpListener(
    port,
    {
      isInbound: async (address) => address.endsWith('@alerts.example.com'),
      receive: async (raw, envelope): Promise<AlertResult> => {
        received.push({ raw: raw.toString(), envelope });
        return { status: 'dispatched', alerts: [] };
      },
      maxBytes: 2048,
      ...deps,
    },
    () => undefined,
  );
  await listener.start();
  listeners.push(listener);
  return { port, received };
}

const mail = rawMail(
  { From: 'nagios@mon.example.org', To: 'ops@alerts.example.com', Subject: 'disk' },
  'db1 full',
);

describe('the local SMTP listener', () => {
  it('takes a mail for an inbound address and hands over the raw mail and envelope', async () => {
    const { port, received } = await listen();
    const answer = await sendMail(port, 'bounce@mon.example.org', ['ops@alerts.example.com'], mail);
    expect(answer.code).toBe(250);
    expect(answer.size).toBe('2048');
    expect(received).toHaveLength(1);
    expect(received[0]?.envelope).toEqual({ from: 'bounce@mon.example.org', to: ['ops@alerts.example.com'] });
    expect(received[0]?.raw).toContain('Subject: disk');
  });

  it('refuses an unknown recipient at RCPT TO and a larger mail than SIZE at the end of DATA', async () => {
    const { port, received } = await listen();
    const unknown = await sendMail(port, 'a@b.org', ['someone@else.example.com'], mail);
    expect(unknown).toMatchObject({ code: 550, stage: 'rcpt' });
    const big = await sendMail(port, 'a@b.org', ['ops@alerts.example.com'], `${mail}\r\n${'x'.repeat(4000)}`);
    expect(big.code).toBe(552);
    expect(received).toEqual([]);
  });

  it("answers the use case's refusal with 550 and its reason, a failure with 451", async () => {
    const refusing = await listen({
      receive: async () => ({
        status: 'refused',
        reason: 'sender-not-allowed',
        message: 'x@evil.org may not send alerts',
      }),
    });
    const refused = await sendMail(refusing.port, 'x@evil.org', ['ops@alerts.example.com'], mail);
    expect(refused).toMatchObject({ code: 550, stage: 'data' });
    expect(refused.text).toContain('x@evil.org may not send alerts');
    const failing = await listen({
      receive: async () => {
        throw new Error('store down');
      },
    });
    const failed = await sendMail(failing.port, 'a@mon.example.org', ['ops@alerts.example.com'], mail);
    expect(failed).toMatchObject({ code: 451, stage: 'data' });
  });

  it('listens on 127.0.0.1 only', async () => {
    const { port } = await listen();
    const other = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
    if (other === undefined) return; // no other address on this machine to try
    const reached = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: other, port, timeout: 2000 });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    expect(reached).toBe(false);
  });
});

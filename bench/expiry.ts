// npm run bench:expiry — 10 000 due messages over 1 000 recipients → time until all 1 000
// digests are in the SES stand-in, emails per second, and DynamoDB reads per message.
// Usage: npm run bench:expiry [-- --messages 10000 --recipients 1000]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { messageItem } from '../functions/adapters/dynamodb/store.ts';
import type { HeldMessage } from '../functions/core/held-message.ts';
import { dynamoClient } from '../local/stand-ins.ts';
import { startSystem } from '../test/support/system.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    recipients: { type: 'string', default: '1000' },
  },
});
const messages = Number(values.messages);
const recipients = Number(values.recipients);
const resultsDir = join(import.meta.dirname, 'results');

async function main(): Promise<void> {
  console.log(`bench:expiry — ${messages} messages over ${recipients} recipients fall due at once`);
  const system = await startSystem({
    env: {
      // this bench loads its messages straight into DynamoDB Local
      HOLDOVER_STORE: 'dynamodb',
      HOLDOVER_SWEEP_INTERVAL: '1s',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
  });
  try {
    const client = DynamoDBDocumentClient.from(dynamoClient(Number(system.env.DYNAMODB_PORT)));
    const run = Date.now().toString(36);
    const dueAt = Date.now() + 30_000 + messages; // after loading: every message falls due at once
    const loadStarted = Date.now();
    const items: HeldMessage[] = Array.from({ length: messages }, (_, n) => ({
      id: ulid(loadStarted + n),
      recipient: `sip:bench-${run}-${n % recipients}@example.com`,
      sender: 'sip:alice@example.com',
      senderUri: 'sip:alice@example.com',
      senderName: 'Alice',
      callId: `${ulid()}@bench`,
      cseq: 1,
      contentType: 'text/plain;charset=UTF-8',
      body: Buffer.from(`message ${n} <b>with markup</b> & ümlauts`),
      receivedAt: new Date(loadStarted + n).toISOString(),
      expiresAt: new Date(dueAt).toISOString(),
      state: 'pending',
    }));
    console.log('loading with BatchWriteItem…');
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < items.length) {
          const chunk = items.slice(next, next + 25);
          next += 25;
          let request: Record<string, unknown>[] = chunk.map((message) => ({
            PutRequest: { Item: messageItem(message) },
          }));
          while (request.length > 0) {
            const { UnprocessedItems } = await client.send(
              new BatchWriteCommand({ RequestItems: { holdover: request as never } }),
            );
            request = (UnprocessedItems?.holdover ?? []) as Record<string, unknown>[];
          }
        }
      }),
    );
    // (no held counter to set: the count is the order index itself)
    const waitMs = dueAt - Date.now();
    console.log(
      `loaded in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s; due in ${(waitMs / 1000).toFixed(1)} s`,
    );
    if (waitMs < 0) throw new Error('loading took longer than the head start: raise it');
    await new Promise((resolve) => setTimeout(resolve, waitMs));

    let digests = 0;
    let firstAt = 0;
    const deadline = Date.now() + 600_000;
    while (digests < recipients && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const response = await fetch(`http://127.0.0.1:${system.sesPort}/store`);
      const { emails } = (await response.json()) as { emails: Array<{ destination: { to: string[] } }> };
      digests = emails.filter((email) =>
        email.destination.to.some((to) => to.startsWith(`bench-${run}-`)),
      ).length;
      if (digests > 0 && firstAt === 0) firstAt = Date.now();
    }
    const seconds = (Date.now() - dueAt) / 1000;
    const sweeps = system
      .output()
      .split('\n')
      .filter((line) => line.includes('sweep claimed messages for email'))
      .map((line) => JSON.parse(line) as { claimed: number; indexEntriesRead: number });
    const claimed = sweeps.reduce((sum, sweep) => sum + sweep.claimed, 0);
    const indexReads = sweeps.reduce((sum, sweep) => sum + sweep.indexEntriesRead, 0);
    const result = {
      at: new Date().toISOString(),
      messages,
      recipients,
      digests,
      secondsFromDueToLastDigest: seconds,
      secondsFromDueToFirstDigest: (firstAt - dueAt) / 1000,
      emailsPerSecond: digests / seconds,
      sweepsThatClaimed: sweeps.length,
      claimed,
      sweeperIndexItemsReadPerMessage: claimed > 0 ? indexReads / claimed : Number.NaN,
      emailStepReadsPerMessage: 1, // one consistent BatchGetItem read per message (100 keys a call)
    };
    const summary = `# bench:expiry (${result.at})\n\n${messages} messages over ${recipients} recipients, all due at the same moment; sweeper every 1 s; email worker = the local SQS poller (10 jobs at a time) → SES stand-in.\n\n| digests | due → first digest | due → last digest | digests/s | sweeps that claimed | index items read per message (sweeper) | item reads per message (email step) |\n|---|---|---|---|---|---|---|\n| ${digests}/${recipients} | ${result.secondsFromDueToFirstDigest.toFixed(1)} s | ${seconds.toFixed(1)} s | ${result.emailsPerSecond.toFixed(0)} | ${sweeps.length} | ${result.sweeperIndexItemsReadPerMessage.toFixed(2)} | 1 |\n\nThe sweeper reads only the expiry index (state is projected into it), no message items; the email step reads each claimed message once (BatchGetItem) to render it.\n\nCommand: \`npm run bench:expiry -- --messages ${messages} --recipients ${recipients}\`\n`;
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'expiry.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(resultsDir, 'expiry.md'), summary);
    console.log(`\n${summary}`);
  } finally {
    await system.stop();
  }
}

await main();

// npm run bench:chat — click-to-chat round trips through the whole local system (npm start, SQLite
// by default): for each of N chats with a public queue of one registered member (a scripted UA),
// the time from the visitor's POST of a line until the member's UA has the MESSAGE, until the
// line reads `delivered`, and from the member's answer (a MESSAGE to the visitor AOR) until a
// waiting long poll returns it. Chats run one after another (the figures are latencies, not load).
// Usage: npm run bench:chat [-- --chats 30] [--store dynamodb]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sendUdp, sipRequest } from '../test/support/sip-client.ts';
import { startSystem } from '../test/support/system.ts';
import { TestUa } from '../test/support/ua.ts';

const { values } = parseArgs({
  options: {
    chats: { type: 'string', default: '30' },
    store: { type: 'string', default: 'sqlite' },
  },
});
const chats = Number(values.chats);
const resultsDir = join(import.meta.dirname, 'results');

interface View {
  lines: Array<{ text: string; state: string }>;
  cursor: string;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function main(): Promise<void> {
  console.log(`bench:chat — ${chats} chats, store ${values.store}`);
  const system = await startSystem({
    env: {
      HOLDOVER_STORE: values.store ?? 'sqlite',
      HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32',
      HOLDOVER_CHAT_START_RATE: '1000',
    },
  });
  const ua = new TestUa();
  try {
    await ua.start();
    const run = Date.now().toString(36);
    const member = `sip:agent-${run}@example.com`;
    const queue = `sip:desk-${run}@example.com`;
    if ((await ua.register(system.sipPort, member)).status !== 200) throw new Error('REGISTER failed');
    await system.cli('groups', 'set', queue, '--members', member, '--routing', 'one', '--public');
    const api = (path: string, init: RequestInit = {}) => fetch(new URL(path, system.apiUrl), init);
    const toMember: number[] = [];
    const toDelivered: number[] = [];
    const toVisitor: number[] = [];
    for (let n = 0; n < chats; n++) {
      const started = (await (
        await api('/v1/chats', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to: queue, name: `Visitor ${n}` }),
        })
      ).json()) as { chatId: string; token: string; visitor: string };
      const auth = { authorization: `Bearer ${started.token}` };
      const read = async (after = '', wait = 0) =>
        (await (
          await api(`/v1/chats/${started.chatId}/messages?after=${after}&wait=${wait}`, { headers: auth })
        ).json()) as View;
      const before = ua.messages().length;
      const sentAt = performance.now();
      const posted = await api(`/v1/chats/${started.chatId}/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ text: `question ${n}` }),
      });
      if (posted.status !== 201) throw new Error(`line refused: ${posted.status} ${await posted.text()}`);
      await until(() => (ua.messages().length > before ? true : undefined));
      toMember.push(performance.now() - sentAt);
      const delivered = await until(async () => {
        const view = await read();
        return view.lines[0]?.state === 'delivered' ? view : undefined;
      });
      toDelivered.push(performance.now() - sentAt);

      const poll = read(delivered.cursor, 20);
      // the poll is waiting; the answer comes at any moment of its once-a-second read
      await new Promise((resolve) => setTimeout(resolve, 50 + ((n * 337) % 1000)));
      const answeredAt = performance.now();
      const reply = await sendUdp(
        system.sipPort,
        sipRequest({ to: started.visitor, from: member, body: `answer ${n}` }),
      );
      if (reply.status !== 200) throw new Error(`answer refused: ${reply.status}`);
      const view = await poll;
      if (view.lines.length !== 2) throw new Error(`the poll returned ${JSON.stringify(view)}`);
      toVisitor.push(performance.now() - answeredAt);
    }
    const row = (name: string, samples: number[]) => {
      const sorted = [...samples].sort((a, b) => a - b);
      return `| ${name} | ${percentile(sorted, 50).toFixed(0)} ms | ${percentile(sorted, 95).toFixed(0)} ms | ${sorted.at(-1)?.toFixed(0)} ms |`;
    };
    const figures = {
      chats,
      store: values.store,
      lineToMemberMs: toMember,
      lineDeliveredMs: toDelivered,
      answerToVisitorMs: toVisitor,
    };
    const markdown = [
      `# bench:chat (${new Date().toISOString()})`,
      '',
      `${chats} chats one after another with a public queue of one registered member (a scripted UA), store ${values.store}; the visitor is plain HTTP, the member answers over UDP.`,
      '',
      '| step | p50 | p95 | max |',
      '|---|---|---|---|',
      row("visitor's POST → the member's UA has the MESSAGE", toMember),
      row("visitor's POST → the line reads `delivered`", toDelivered),
      row("member's answer → the waiting long poll returns it", toVisitor),
      '',
      "The line goes through capture and a delivery run (queued at capture, since the member is available); the answer comes at a moment spread over the long poll's once-a-second read of the chat, so it shows within about a second (half a second on average).",
      '',
      `Command: \`npm run bench:chat -- --chats ${chats}${values.store === 'sqlite' ? '' : ` --store ${values.store}`}\``,
      '',
    ].join('\n');
    mkdirSync(resultsDir, { recursive: true });
    const name = values.store === 'sqlite' ? 'chat' : `chat-${values.store}`;
    writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
    writeFileSync(join(resultsDir, `${name}.md`), markdown);
    console.log(markdown);
  } finally {
    ua.close();
    await system.stop();
  }
}

await main();

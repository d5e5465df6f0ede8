// Kamailio (Debian's package) as an independent SIP proxy in front of the edge, for interop tests.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './ports.ts';

export interface RunningKamailio {
  host: string;
  port: number;
  log: () => string;
  stop: () => Promise<void>;
}

export function kamailioAvailable(): boolean {
  return spawnSync('kamailio', ['-v'], { encoding: 'utf8' }).status === 0;
}

/** `host`: the loopback address Kamailio listens and sends from (the edge may trust it alone). */
export async function startKamailio(
  edgePort: number,
  port?: number,
  host = '127.0.0.1',
): Promise<RunningKamailio> {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'holdover-kamailio-'));
  const template = readFileSync(resolve(import.meta.dirname, '..', 'e2e', 'kamailio', 'proxy.cfg'), 'utf8');
  const config = join(dir, 'proxy.cfg');
  writeFileSync(
    config,
    template
      .replaceAll('@HOST@', host)
      .replaceAll('@PORT@', String(port))
      .replaceAll('@EDGE@', String(edgePort)),
  );
  const check = spawnSync('kamailio', ['-c', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`kamailio rejected the config:\n${check.stderr}`);
  let log = '';
  const child: ChildProcess = spawn(
    'kamailio',
    ['-DD', '-E', '-f', config, '-Y', dir, '-w', dir, '-P', join(dir, 'kamailio.pid'), '-m', '64', '-M', '8'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const deadline = Date.now() + 10_000;
  while (!/listening on|Listening on/.test(log) && !log.includes('tcp_main') && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`kamailio exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  return {
    host,
    port,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

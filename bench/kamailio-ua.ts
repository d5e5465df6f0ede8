// Kamailio as the recipient's UA for bench:delivery (bench/kamailio/ua.cfg): registers itself at
// the edge with digest credentials (uac module) and answers every MESSAGE 200 statelessly, logging
// one line per MESSAGE. Own port, own temporary directory, loopback only; stopped by `stop`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/ports.ts';

export interface KamailioMessage {
  /** Arrival time, seconds since the epoch (Kamailio's gettimeofday). */
  at: number;
  callId: string;
  cseq: string;
  /** The body's leading `#nnnnn`. */
  marker: string;
}

export interface KamailioUa {
  port: number;
  messages: () => KamailioMessage[];
  /** When each REGISTER left (seconds since the epoch) and whether it carried credentials. */
  registers: () => Array<{ at: number; authorized: boolean }>;
  log: () => string;
  stop: () => Promise<void>;
}

const modules = '/usr/lib/x86_64-linux-gnu/kamailio/modules';

/** Kamailio and the modules ua.cfg loads (all in Debian's base kamailio package). */
export function kamailioUaAvailable(): boolean {
  return (
    spawnSync('kamailio', ['-v'], { encoding: 'utf8' }).status === 0 &&
    spawnSync('test', ['-f', join(modules, 'uac.so')]).status === 0 &&
    spawnSync('test', ['-f', join(modules, 'db_text.so')]).status === 0
  );
}

/** db_text escapes the column separator. */
const field = (value: string | number) => String(value).replaceAll('\\', '\\\\').replaceAll(':', '\\:');

export async function startKamailioUa(options: {
  edgePort: number;
  transport: 'udp' | 'tcp';
  user: string;
  domain: string;
  password: string;
}): Promise<KamailioUa> {
  const host = '127.0.0.1';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'holdover-kamailio-ua-'));
  const db = join(dir, 'db');
  mkdirSync(db);
  writeFileSync(join(db, 'version'), 'table_name(string) table_version(int) \nuacreg:5\n');
  const columns =
    'id(int,auto) l_uuid(string) l_username(string) l_domain(string) r_username(string) r_domain(string) realm(string,null) auth_username(string) auth_password(string) auth_ha1(string,null) auth_proxy(string) expires(int) flags(int) reg_delay(int) contact_addr(string) socket(string,null) ';
  const { user, domain, password, transport } = options;
  const row = [
    1,
    user,
    user,
    domain,
    user,
    domain,
    '',
    user,
    password,
    '',
    `sip:${host}:${options.edgePort};transport=${transport}`,
    300,
    0,
    0,
    `${host}:${port};transport=${transport}`,
    '',
  ]
    .map(field)
    .join(':');
  writeFileSync(join(db, 'uacreg'), `${columns}\n${row}\n`);
  const template = readFileSync(join(import.meta.dirname, 'kamailio', 'ua.cfg'), 'utf8');
  const config = join(dir, 'ua.cfg');
  writeFileSync(
    config,
    template.replaceAll('@HOST@', host).replaceAll('@PORT@', String(port)).replaceAll('@DB@', db),
  );
  const check = spawnSync('kamailio', ['-c', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`kamailio rejected ${config}:\n${check.stderr}`);
  let log = '';
  const child: ChildProcess = spawn(
    'kamailio',
    ['-DD', '-E', '-f', config, '-Y', dir, '-w', dir, '-P', join(dir, 'kamailio.pid'), '-m', '64', '-M', '8'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const append = (chunk: Buffer) => {
    log += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const deadline = Date.now() + 10_000;
  while (!log.includes('Listening on') && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`kamailio (the UA) exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`kamailio (the UA) exited:\n${log}`);
  const lines = (prefix: string) =>
    log
      .split('\n')
      .filter((line) => line.includes(prefix))
      .map((line) => line.slice(line.indexOf(prefix)).split('|'));
  return {
    port,
    log: () => log,
    messages: () =>
      lines('RECV|').map((parts) => ({
        at: Number(parts[1]),
        callId: parts[2] ?? '',
        cseq: parts[3] ?? '',
        marker: parts[4] ?? '',
      })),
    registers: () =>
      lines('REGISTER|').map((parts) => ({
        at: Number(parts[1]),
        authorized: (parts[3] ?? '').includes('Digest'),
      })),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Child processes of the local system: started with their output in a log file, awaited until
// ready, and stopped together.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  logDir: string;
  ready: () => Promise<boolean>;
  timeoutMs: number;
}

/** Every child started and not yet exited, from the moment it is spawned. */
export const runningChildren = new Set<ChildProcess>();

export class StartError extends Error {
  override readonly name = 'StartError';
}

let closing = false;

/**
 * Stops every child: `first` (the edge, so it stops taking MESSAGEs before the stores go away),
 * then the rest at once; a child spawned meanwhile (a restart under way) is stopped too, and no
 * new one starts after this. Resolves once every child has exited.
 */
export async function stopAllChildren(first: ChildProcess[] = [], graceMs = 3000): Promise<void> {
  closing = true;
  await Promise.all(first.map((child) => stopChild(child, graceMs)));
  for (let round = 0; runningChildren.size > 0 && round < 5; round++) {
    await Promise.all([...runningChildren].map((child) => stopChild(child, graceMs)));
  }
}

export async function startChild(spec: ChildSpec): Promise<ChildProcess> {
  if (closing) throw new StartError(`${spec.name} not started: the system is stopping`);
  const logFile = join(spec.logDir, `${spec.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  const child = spawn(spec.command, spec.args, {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runningChildren.add(child);
  child.once('exit', () => runningChildren.delete(child));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  child.once('error', (error) => {
    exited = `could not start: ${error.message}`;
  });

  const deadline = Date.now() + spec.timeoutMs;
  while (Date.now() < deadline) {
    if (closing) {
      child.kill('SIGKILL');
      throw new StartError(`${spec.name} not started: the system is stopping`);
    }
    if (exited !== undefined) {
      throw new StartError(`${spec.name} ${exited}. Last lines of ${logFile}:\n${tail(logFile)}`);
    }
    if (await spec.ready().catch(() => false)) return child;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new StartError(
    `${spec.name} was not ready within ${spec.timeoutMs / 1000}s. Last lines of ${logFile}:\n${tail(logFile)}`,
  );
}

export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    runningChildren.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Fails with a message naming the variable when a port we need is already taken. */
export async function assertPortFree(
  host: string,
  port: number,
  variable: string,
  protocols: Array<'tcp' | 'udp'> = ['tcp'],
): Promise<void> {
  const taken = `Port ${port} (${variable}) is already in use on ${host}: stop what holds it (is Holdover already running?) or set ${variable} to a free port`;
  if (protocols.includes('tcp')) {
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new StartError(taken) : error),
      );
      server.listen(port, host, () => server.close(() => resolve()));
    });
  }
  if (protocols.includes('udp')) {
    await new Promise<void>((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new StartError(taken) : error),
      );
      socket.bind(port, host, () => socket.close(() => resolve()));
    });
  }
}

export async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await response.arrayBuffer();
  return response.ok;
}

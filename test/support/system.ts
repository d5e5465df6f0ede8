// The whole local system (`npm start`) as a child process, on free ports with its own data
// directory, for end-to-end tests.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './ports.ts';

const root = resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);

export interface RunningSystem {
  apiUrl: string;
  sipPort: number;
  edgeHttpPort: number;
  sesPort: number;
  /** The inbound SMTP listener (alerts from email). */
  smtpPort: number;
  dataDir: string;
  secret: string;
  env: Record<string, string>;
  output: () => string;
  /** Every child's pid (read from runtime.json; restarts change them). */
  runtime: () => RuntimePids;
  /**
   * Sends `signal` as a terminal's Ctrl-C does (to the whole process group, with `detached`) and
   * awaits the exit: its code, and the signal if one ended it.
   */
  interrupt: (signal?: NodeJS.Signals) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Runs `holdover <args>` against this system and returns stdout (throws on a non-zero exit). */
  cli: (...args: string[]) => Promise<string>;
  /** Runs `holdover <args>` with `input` on stdin; never throws: the exit code and output. */
  cliWithInput: (
    input: string,
    ...args: string[]
  ) => Promise<{ code: number; stdout: string; stderr: string }>;
  stop: () => Promise<void>;
}

export interface SystemOptions {
  env?: Record<string, string>;
  /** Reuse the data directory of an earlier run (restart test). */
  dataDir?: string;
  /** Keep the data directory when stopping. */
  keepData?: boolean;
  /** Its own process group, so `interrupt` reaches every child as Ctrl-C in a terminal does. */
  detached?: boolean;
  /** Return as soon as it started starting (its signal handlers are in place), not once healthy. */
  returnEarly?: boolean;
}

export interface RuntimePids {
  pid: number;
  edgePid: number;
  sesPid: number;
  /** Only with HOLDOVER_STORE=dynamodb. */
  dynamodbPid?: number;
  sqsPid?: number;
}

export async function startSystem(options: SystemOptions = {}): Promise<RunningSystem> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'holdover-e2e-'));
  const secret = 'e2e-secret-0123456789abcdef';
  const [api, edgeHttp, sip, dynamodb, sqs, ses, smtp] = (await freePorts(7)).map(String);
  const env: Record<string, string> = {
    PORT: api ?? '',
    EDGE_HTTP_PORT: edgeHttp ?? '',
    SIP_PORT: sip ?? '',
    DYNAMODB_PORT: dynamodb ?? '',
    SQS_PORT: sqs ?? '',
    SES_PORT: ses ?? '',
    SMTP_PORT: smtp ?? '',
    HOLDOVER_DATA_DIR: dataDir,
    HOLDOVER_SECRET: secret,
    POWERTOOLS_LOG_LEVEL: 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
    // the tests load the system in bursts on two shared cores; shedding is tested on its own
    EDGE_MAX_PENDING_CAPTURES: '1000',
    ...options.env,
  };
  const apiUrl = `http://127.0.0.1:${env.PORT}`;
  let output = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(root, 'local', 'main.ts')], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 90_000;
  while (options.returnEarly && !output.includes('holdover: starting')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`npm start did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (; !options.returnEarly; ) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`system not healthy within 90 s:\n${output}`);
    }
    try {
      const response = await fetch(`${apiUrl}/v1/health`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    apiUrl,
    sipPort: Number(env.SIP_PORT),
    edgeHttpPort: Number(env.EDGE_HTTP_PORT),
    sesPort: Number(env.SES_PORT),
    smtpPort: Number(env.SMTP_PORT),
    dataDir,
    secret,
    env,
    output: () => output,
    runtime: () => JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimePids,
    interrupt: async (signal = 'SIGINT') => {
      if (child.pid !== undefined) process.kill(options.detached ? -child.pid : child.pid, signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    cli: async (...args: string[]) => {
      const { stdout } = await run(process.execPath, [join(root, 'bin', 'holdover.mjs'), ...args], {
        cwd: root,
        env: { ...process.env, HOLDOVER_DATA_DIR: dataDir, HOLDOVER_SECRET: secret },
        timeout: 30_000,
      });
      return stdout;
    },
    cliWithInput: (input: string, ...args: string[]) =>
      new Promise((resolveRun) => {
        const cliChild = execFile(
          process.execPath,
          [join(root, 'bin', 'holdover.mjs'), ...args],
          {
            cwd: root,
            env: { ...process.env, HOLDOVER_DATA_DIR: dataDir, HOLDOVER_SECRET: secret },
            timeout: 30_000,
          },
          (error, stdout, stderr) => {
            const code = error && typeof error.code === 'number' ? error.code : error ? -1 : 0;
            resolveRun({ code, stdout, stderr });
          },
        );
        cliChild.stdin?.end(input);
      }),
    stop,
  };
}

/** Gives `aor` SIP credentials through the CLI, as an operator does. */
export async function setPassword(system: RunningSystem, aor: string, password: string): Promise<void> {
  const run = await system.cliWithInput(`${password}\n`, 'users', 'set', aor, '--password-stdin');
  if (run.code !== 0) throw new Error(`users set ${aor} failed (${run.code}): ${run.stderr}`);
}

export interface HeldView {
  id: string;
  from: string;
  to: string;
  body: string | null;
  contentType: string;
  receivedAt: string;
  expiresAt: string;
  state: string;
}

export async function heldFor(system: RunningSystem, aor: string): Promise<HeldView[]> {
  return JSON.parse(await system.cli('held', aor, '--json')) as HeldView[];
}

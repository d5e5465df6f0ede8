// Runs sipp, an independent SIP implementation, as a sender or receiver in end-to-end tests.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const scenarios = resolve(import.meta.dirname, '..', 'e2e', 'scenarios');

export interface SippRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Contents of sipp's error trace, if it wrote one. */
  errors: string;
  /** Contents of the scenario's <log> output (with traceLogs). */
  logs: string;
  /** sipp's final statistics screen, for failure messages. */
  screen: string;
  dir: string;
}

export interface SippOptions {
  scenario: string;
  /** Remote host:port; absent for a UAS that only listens. */
  target?: string;
  /** Local port to listen on (a UAS); default: one sipp picks. */
  localPort?: number;
  traceLogs?: boolean;
  /** -key name value pairs. */
  keys?: Record<string, string>;
  transport?: 'u1' | 't1';
  calls: number;
  rate?: number;
  /** Lines of the injection file (fields separated by ';'). */
  inject?: string[];
  extraArgs?: string[];
  timeoutSeconds?: number;
}

export function sipp(options: SippOptions): Promise<SippRun> {
  const dir = mkdtempSync(join(tmpdir(), 'holdover-sipp-'));
  const args = [
    '-sf',
    join(scenarios, options.scenario),
    '-t',
    options.transport ?? 'u1',
    '-m',
    String(options.calls),
    '-r',
    String(options.rate ?? 10),
    '-i',
    '127.0.0.1',
    '-nostdin',
    '-timeout',
    `${options.timeoutSeconds ?? 30}s`,
    '-timeout_error',
    '-trace_err',
    '-trace_screen',
    '-error_file',
    join(dir, 'errors.log'),
    ...(options.localPort ? ['-p', String(options.localPort)] : []),
    ...(options.traceLogs ? ['-trace_logs'] : []),
    ...Object.entries(options.keys ?? {}).flatMap(([name, value]) => ['-key', name, value]),
    ...(options.extraArgs ?? []),
  ];
  if (options.inject) {
    const file = join(dir, 'inject.csv');
    writeFileSync(file, `SEQUENTIAL\n${options.inject.join('\n')}\n`);
    args.push('-inf', file);
  }
  if (options.target) args.push(options.target);
  return new Promise((resolvePromise) => {
    execFile(
      'sipp',
      args,
      { cwd: dir, timeout: ((options.timeoutSeconds ?? 30) + 15) * 1000 },
      (error, stdout, stderr) => {
        const code = error && 'code' in error && typeof error.code === 'number' ? error.code : error ? -1 : 0;
        let errors = '';
        let logs = '';
        let screen = '';
        for (const name of readdirSync(dir)) {
          if (name.endsWith('_screen.log')) screen += readFileSync(join(dir, name), 'utf8').slice(-3000);
          if (name.endsWith('errors.log')) errors += readFileSync(join(dir, name), 'utf8');
          if (name.endsWith('_logs.log')) logs += readFileSync(join(dir, name), 'utf8');
        }
        resolvePromise({ code, stdout, stderr, errors, logs, screen, dir });
      },
    );
  });
}

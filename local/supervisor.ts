// Keeps one child of the local system running, as ECS or a managed service would: a part that
// dies is started again with exponential backoff (0.5 s, 1 s, 2 s … capped at 10 s), for as long as
// the system runs. It never gives up, because no single part may stop capture: the stores keep
// their data on disk, the edge keeps no messages, and an SES outage only delays email.
import type { ChildProcess } from 'node:child_process';

export type PartStatus = 'starting' | 'up' | 'restarting' | 'stopped';

export interface SupervisedPart {
  label: string;
  start: () => Promise<ChildProcess>;
  /** Runs after each start, before the part counts as up (provisioning a store that came back). */
  afterStart?: () => Promise<unknown>;
}

export interface SupervisorOptions {
  progress: (line: string) => void;
  /** Told after each start (the pid changed). */
  onStarted?: (child: ChildProcess) => void;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Up this long, a part's next death restarts it after the shortest delay again. */
  stableMs?: number;
}

export class Supervisor {
  status: PartStatus = 'starting';
  child: ChildProcess | undefined;
  private failures = 0;
  private upSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private restartPending = false;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly stableMs: number;

  constructor(
    readonly part: SupervisedPart,
    private readonly options: SupervisorOptions,
  ) {
    this.minDelayMs = options.minDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.stableMs = options.stableMs ?? 30_000;
  }

  /** The first start: a failure here is the operator's to fix (Java missing, port taken) and is thrown. */
  async start(): Promise<ChildProcess> {
    const child = await this.part.start();
    this.adopt(child);
    await this.part.afterStart?.();
    if (this.status === 'starting') this.status = 'up';
    return child;
  }

  /** The delay before restart number `failures` (1-based): 0.5 s doubling, capped. */
  delayFor(failures: number): number {
    return Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.max(0, failures - 1));
  }

  stop(): void {
    this.status = 'stopped';
    clearTimeout(this.timer);
  }

  /** A method, not a field read, so the checks after each await are not narrowed away. */
  private isStopped(): boolean {
    return this.status === 'stopped';
  }

  private adopt(child: ChildProcess): void {
    this.child = child;
    this.upSince = Date.now();
    this.options.onStarted?.(child);
    child.once('exit', (code, signal) => {
      if (this.isStopped() || this.child !== child) return;
      if (Date.now() - this.upSince >= this.stableMs) this.failures = 0;
      this.child = undefined;
      this.restartLater(`stopped unexpectedly (${signal ?? `exit code ${code}`})`);
    });
  }

  private restartLater(why: string): void {
    if (this.restartPending || this.isStopped()) return;
    this.restartPending = true;
    this.status = 'restarting';
    this.failures++;
    const delayMs = this.delayFor(this.failures);
    this.options.progress(`${this.part.label} ${why}; restarting it in ${delayMs / 1000}s`);
    this.timer = setTimeout(() => void this.restart(), delayMs);
  }

  private async restart(): Promise<void> {
    this.restartPending = false;
    if (this.isStopped()) return;
    try {
      const child = await this.part.start();
      if (this.isStopped()) {
        child.kill('SIGKILL');
        return;
      }
      this.adopt(child);
      await this.part.afterStart?.();
      if (this.isStopped() || this.child !== child) return;
      this.status = 'up';
      this.options.progress(`${this.part.label} ready again`);
    } catch (error) {
      if (this.isStopped()) return;
      const failed = this.child;
      this.child = undefined;
      failed?.kill('SIGKILL');
      this.restartLater(
        `could not be restarted (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
      );
    }
  }
}

import { InvalidRequestError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/** Parses `30m`, `72h`, `7d`, `1s` into milliseconds; anything else is an error naming the value. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  const amount = match?.[1];
  const unit = match?.[2];
  if (amount === undefined || unit === undefined) {
    throw new InvalidRequestError(
      `"${text}" is not a duration: use a whole number with ms, s, m, h or d (e.g. 72h)`,
    );
  }
  const ms = Number(amount) * (UNIT_MS[unit] ?? 0);
  if (ms <= 0) throw new InvalidRequestError(`"${text}" must be longer than zero`);
  return ms;
}

export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] ?? 1;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

// Configuration is read once, at module scope; a missing or malformed value fails the cold start
// with the variable's name (Powertools' getStringFromEnv habit). No silent defaults for required
// values.
import { parseDuration } from './duration.ts';

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} environment variable is not set`);
  return value;
}

export function envOr(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

export function envInt(name: string, fallback: number, min = 1): number {
  const text = envOr(name, String(fallback));
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number ≥ ${min}, got "${text}"`);
  }
  return value;
}

export function envDurationMs(name: string, fallback: string): number {
  const text = envOr(name, fallback);
  try {
    return parseDuration(text);
  } catch {
    throw new Error(`${name} must be a duration such as 30s, 72h or 7d, got "${text}"`);
  }
}

export function envList(name: string, fallback: string): string[] {
  return envOr(name, fallback)
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
}

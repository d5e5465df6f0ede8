// Edge configuration, read and checked once at start; a bad value stops the edge with its name.
import { envInt, envOr, requireEnv } from '../functions/adapters/env.ts';

export interface EdgeConfig {
  sipHost: string;
  sipPort: number;
  httpHost: string;
  httpPort: number;
  apiUrl: string;
  secret: string;
  maxBodyBytes: number;
  retryAfterSeconds: number;
}

export function edgeConfigFromEnv(): EdgeConfig {
  const apiUrl = requireEnv('HOLDOVER_API_URL');
  try {
    new URL(apiUrl);
  } catch {
    throw new Error(`HOLDOVER_API_URL must be a URL such as http://127.0.0.1:3000, got "${apiUrl}"`);
  }
  return {
    sipHost: envOr('SIP_HOST', '127.0.0.1'),
    sipPort: envInt('SIP_PORT', 5060),
    httpHost: envOr('EDGE_HTTP_HOST', envOr('SIP_HOST', '127.0.0.1')),
    httpPort: envInt('EDGE_HTTP_PORT', 3001),
    apiUrl,
    secret: requireEnv('HOLDOVER_SECRET'),
    maxBodyBytes: envInt('HOLDOVER_MAX_BODY_BYTES', 65_536),
    retryAfterSeconds: envInt('HOLDOVER_RETRY_AFTER', 30),
  };
}

// Signed HTTP calls from the edge to the API (docs/design.md "Security"). The edge keeps nothing:
// it only turns SIP into these calls and their answers back into SIP.
import { signUrl } from '../functions/core/signature.ts';
import { metrics } from './log.ts';

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export class ApiUnavailableError extends Error {
  override readonly name = 'ApiUnavailableError';
}

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    /** HOLDOVER_SECRET; of a list, the first signs. */
    private readonly secret: string,
    /** How long a call is waited for; a capture's deadline is set below it. */
    readonly timeoutMs = 10_000,
  ) {}

  post(path: string, payload: unknown): Promise<ApiAnswer> {
    return this.call('POST', path, JSON.stringify(payload));
  }

  /** A signed GET: the signature covers the method, path and query, and the empty body. */
  get(path: string): Promise<ApiAnswer> {
    return this.call('GET', path, '');
  }

  private async call(method: 'GET' | 'POST', path: string, body: string): Promise<ApiAnswer> {
    let response: Response;
    const url = new URL(path, this.baseUrl);
    try {
      response = await fetch(url, {
        method,
        headers: {
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
          ...signUrl(this.secret, method, url, body),
        },
        ...(method === 'POST' ? { body } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      metrics.count('apiFailures');
      throw new ApiUnavailableError(`API at ${this.baseUrl} unreachable: ${describe(error)}`);
    }
    if (response.status >= 500) metrics.count('apiFailures');
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (a proxy's error page, say): keep the text for the log
    }
    return { status: response.status, body: parsed };
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

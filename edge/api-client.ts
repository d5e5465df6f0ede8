// Signed HTTP calls from the edge to the API (docs/design.md "Security"). The edge keeps nothing:
// it only turns SIP into these calls and their answers back into SIP. Connections are kept
// alive and reused (one pool per API): a capture pays no TCP or TLS handshake.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { signUrl } from '../shared/signature.ts';
import { metrics } from './log.ts';

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export class ApiUnavailableError extends Error {
  override readonly name = 'ApiUnavailableError';
}

/** Connections to the API at once, at most; more calls wait for a free one. */
const MAX_SOCKETS = 128;

export class ApiClient {
  private readonly agent: HttpAgent;
  private readonly secure: boolean;

  constructor(
    private readonly baseUrl: string,
    /** HOLDOVER_SECRET; of a list, the first signs. */
    private readonly secret: string,
    /** How long a call is waited for; a capture's deadline is set below it. */
    readonly timeoutMs = 10_000,
  ) {
    this.secure = new URL(baseUrl).protocol === 'https:';
    const options = { keepAlive: true, maxSockets: MAX_SOCKETS, scheduling: 'lifo' as const };
    this.agent = this.secure ? new HttpsAgent(options) : new HttpAgent(options);
  }

  post(path: string, payload: unknown): Promise<ApiAnswer> {
    return this.call('POST', path, JSON.stringify(payload));
  }

  /** A signed GET: the signature covers the method, path and query, and the empty body. */
  get(path: string): Promise<ApiAnswer> {
    return this.call('GET', path, '');
  }

  /** Closes the kept-alive connections (at shutdown). */
  close(): void {
    this.agent.destroy();
  }

  private call(method: 'GET' | 'POST', path: string, body: string): Promise<ApiAnswer> {
    const url = new URL(path, this.baseUrl);
    const payload = Buffer.from(body, 'utf8');
    const headers = {
      ...(method === 'POST'
        ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
        : {}),
      ...signUrl(this.secret, method, url, body),
    };
    const send = this.secure ? httpsRequest : httpRequest;
    return new Promise<ApiAnswer>((resolve, reject) => {
      const unavailable = (error: unknown) => {
        metrics.count('apiFailures');
        reject(new ApiUnavailableError(`API at ${this.baseUrl} unreachable: ${describe(error)}`));
      };
      const request = send(
        url,
        { method, headers, agent: this.agent, signal: AbortSignal.timeout(this.timeoutMs) },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', unavailable);
          response.on('end', () => {
            if ((response.statusCode ?? 0) >= 500) metrics.count('apiFailures');
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON (a proxy's error page, say): keep the text for the log
            }
            resolve({ status: response.statusCode ?? 0, body: parsed });
          });
        },
      );
      request.on('error', unavailable);
      request.end(method === 'POST' ? payload : undefined);
    });
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

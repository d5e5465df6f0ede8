// One S3 GetObject, signed with the SDK's own SigV4 signer (@smithy/signature-v4, already in every
// bundle through the DynamoDB client) and sent with node:https: the inbound-email function reads
// the raw mail SES stored and nothing else. @aws-sdk/client-s3 did the same with ~170 KB more
// code (its XML protocol, flexible checksums, S3 Express and multi-region signing) and ~10 ms more
// import on a cold start (bench/results/cold.md). What stays the SDK's: the signer, and the
// credentials (the chain the bundled clients use, lambda-credentials.ts: Lambda's role from the
// environment).
// What is ours: the URL (virtual-hosted style, path style for an endpoint override as the SDK
// does with forcePathStyle), a bound on the size read, and retries of transient failures.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, SourceData } from '@smithy/types';
import { defaultProvider } from './lambda-credentials.ts';

/** SHA-256, or HMAC-SHA256 with a secret: the Checksum the signer is built with (as @smithy/hash-node). */
class Sha256 implements Checksum {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(this.secret));
  }
  update(data: Uint8Array | string): void {
    this.hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

function bytesOf(data: SourceData): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** An object larger than the caller takes: nothing more is read. */
export class ObjectTooLargeError extends Error {
  override readonly name = 'ObjectTooLargeError';
}

/** S3 answered with an error (after retries for the transient ones). */
export class S3RequestError extends Error {
  override readonly name = 'S3RequestError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface S3ObjectReader {
  /** The object's bytes; ObjectTooLargeError past `maxBytes`, S3RequestError when S3 refuses. */
  read(bucket: string, key: string, maxBytes: number): Promise<Uint8Array>;
}

export interface S3ReaderOptions {
  region: string;
  /** AWS_ENDPOINT_URL_S3: a stand-in's URL, addressed path-style. */
  endpoint?: string;
  /** Attempts on a network error, a 5xx or a throttle (default 3, as the SDK's standard retry). */
  attempts?: number;
  timeoutMs?: number;
}

const TRANSIENT = new Set([500, 502, 503, 504, 429]);

// connections kept open between invocations of a warm sandbox, as the SDK's handler does
const agent = new HttpsAgent({ keepAlive: true, maxSockets: 8 });

/** The regional S3 host of a bucket, virtual-hosted style (the SDK's default for such names). */
function s3Host(bucket: string, region: string): string {
  return `${bucket}.s3.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

export function s3ObjectReader(options: S3ReaderOptions): S3ObjectReader {
  const signer = new SignatureV4({
    service: 's3',
    region: options.region,
    credentials: defaultProvider(),
    sha256: Sha256,
    // S3 signs the path as sent (no second escaping) and wants the payload hash header
    uriEscapePath: false,
    applyChecksum: true,
  });
  const attempts = options.attempts ?? 3;
  const timeoutMs = options.timeoutMs ?? 15_000;

  async function once(bucket: string, key: string, maxBytes: number): Promise<Uint8Array> {
    const path = `/${key.split('/').map(encodeURIComponent).join('/')}`;
    const url = options.endpoint
      ? new URL(`${options.endpoint.replace(/\/+$/, '')}/${encodeURIComponent(bucket)}${path}`)
      : new URL(`https://${s3Host(bucket, options.region)}${path}`);
    const signed = await signer.sign({
      method: 'GET',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers: { host: url.host },
    });
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const outgoing =
        url.protocol === 'http:'
          ? httpRequest(url, { method: 'GET', headers: signed.headers, timeout: timeoutMs }, resolve)
          : httpsRequest(url, { method: 'GET', headers: signed.headers, timeout: timeoutMs, agent }, resolve);
      outgoing.on('timeout', () => outgoing.destroy(new Error(`S3 did not answer within ${timeoutMs} ms`)));
      outgoing.on('error', reject);
      outgoing.end();
    });
    const declared = Number(response.headers['content-length'] ?? Number.NaN);
    if (response.statusCode === 200 && declared > maxBytes) {
      response.destroy();
      throw new ObjectTooLargeError(`the object is ${declared} bytes, more than ${maxBytes}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (response.statusCode === 200 && size > maxBytes) {
        response.destroy();
        throw new ObjectTooLargeError(`the object is more than ${maxBytes} bytes`);
      }
      if (response.statusCode === 200 || size <= 64 * 1024) chunks.push(chunk); // an error: its start
    }
    const body = Buffer.concat(chunks);
    if (response.statusCode === 200) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    const code = /<Code>([^<]{1,100})<\/Code>/.exec(body.toString('utf8'))?.[1] ?? 'no error code';
    throw new S3RequestError(
      `S3 GetObject s3://${bucket}/${key} answered ${response.statusCode} (${code})`,
      response.statusCode ?? 0,
    );
  }

  return {
    async read(bucket, key, maxBytes) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once(bucket, key, maxBytes);
        } catch (error) {
          const transient =
            !(error instanceof ObjectTooLargeError) &&
            (!(error instanceof S3RequestError) || TRANSIENT.has(error.status));
          if (!transient || attempt >= attempts) throw error;
          // full jitter on an exponential base, as the SDK's standard retry strategy
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * 2 ** attempt));
        }
      }
    },
  };
}

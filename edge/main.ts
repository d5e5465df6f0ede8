// The SIP edge process (a Fargate task in AWS, a child process under `npm start`).
import { createServer } from 'node:http';
import { ApiClient } from './api-client.ts';
import { createRequestHandler } from './app.ts';
import { edgeConfigFromEnv } from './config.ts';
import { logger } from './log.ts';
import { SipServer } from './sip-server.ts';

async function main(): Promise<void> {
  const config = edgeConfigFromEnv();
  const handle = createRequestHandler({
    api: new ApiClient(config.apiUrl, config.secret),
    maxBodyBytes: config.maxBodyBytes,
    retryAfterSeconds: config.retryAfterSeconds,
  });
  const sip = new SipServer({
    host: config.sipHost,
    port: config.sipPort,
    // headers and framing on top of the largest body we accept
    maxMessageBytes: config.maxBodyBytes + 8192,
    logger: (level, message, fields) => logger[level](message, fields ?? {}),
    handler: (request) => handle(request),
  });
  await sip.start();

  const http = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.httpPort, config.httpHost, resolve);
  });
  logger.info('edge listening', {
    sip: `${config.sipHost}:${config.sipPort} (UDP, TCP)`,
    http: `${config.httpHost}:${config.httpPort}`,
    api: config.apiUrl,
  });

  const stop = async (signal: string) => {
    logger.info('edge stopping', { signal });
    http.close();
    await sip.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  logger.error('edge failed to start', { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});

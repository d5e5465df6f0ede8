// The SIP edge process (a Fargate task in AWS, a child process under `npm start`).
import { edgeConfigFromEnv } from './config.ts';
import { startEdge } from './edge.ts';
import { logger } from './log.ts';

async function main(): Promise<void> {
  const config = edgeConfigFromEnv();
  const edge = await startEdge(config);
  if (config.sipAdvertisedHost === '0.0.0.0' || config.sipAdvertisedHost === '::') {
    logger.warn(
      'SIP_ADVERTISED_HOST is unset and SIP_HOST is a wildcard: Via and Contact name no reachable host',
    );
  }
  logger.info('edge listening', {
    sip: `${config.sipHost}:${config.sipPort} (UDP, TCP)`,
    http: `${config.httpHost}:${config.httpPort}`,
    api: config.apiUrl,
    outboundProxy: config.outboundProxy?.uri,
  });

  const stop = async (signal: string) => {
    logger.info('edge stopping', { signal });
    await edge.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  logger.error('edge failed to start', { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});

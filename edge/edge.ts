// The edge assembled: SIP server, client transactions, registrar, publications, message-waiting,
// delivery and the HTTP server, wired together; `stop` ends them all and clears every timer.
import { createServer, type Server } from 'node:http';
import type { PresenceReport } from '../shared/contract/presence.ts';
import { signingSecretOf } from '../shared/signature.ts';
import { aorOf } from '../shared/sip/uri.ts';
import { ApiClient } from './api-client.ts';
import { createRequestHandler } from './app.ts';
import { SipAuthThrottle } from './auth-throttle.ts';
import { ClientTransactions } from './client-transactions.ts';
import type { EdgeConfig } from './config.ts';
import { Delivery } from './delivery.ts';
import { DigestAuth, nonceKeyOf } from './digest-auth.ts';
import { edgeHttpHandler } from './http-server.ts';
import { logger, METRICS_FLUSH_MS, metrics } from './log.ts';
import { MessageWaiting } from './mwi/subscriptions.ts';
import { summaryFromApi } from './mwi/summary-api.ts';
import { PresencePublications } from './presence-publications.ts';
import { PresenceReporter } from './presence-reporter.ts';
import { Registrar } from './registrar.ts';
import { SipServer } from './sip-server.ts';

/** How long after answering a /deliver call the subscribed count is re-read. */
const SUMMARY_SETTLE_MS = 1000;

/** A running edge: its SIP and HTTP servers and the state behind them; `stop` ends it all. */
export interface RunningEdge {
  sip: SipServer;
  http: Server;
  stop(): Promise<void>;
}

/** Starts every part of the edge with `config`; ports 0 pick free ones (tests read them back). */
export async function startEdge(config: EdgeConfig): Promise<RunningEdge> {
  const api = new ApiClient(config.apiUrl, config.secret);
  const sipLogger = (
    level: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => logger[level](message, fields ?? {});

  let sip: SipServer | undefined;
  // Shared by reference: with SIP_PORT 0 (tests) the port is known only once the server started.
  const local = { host: config.sipAdvertisedHost, port: config.sipPort };
  const transactions = new ClientTransactions({
    local,
    send: (bytes, target) => {
      if (!sip) return Promise.reject(new Error('SIP server not started'));
      return sip.send(bytes, target);
    },
    timerFMs: config.deliveryTimeoutMs,
    logger: sipLogger,
  });
  const originate = transactions.originate.bind(transactions);
  const reporter = new PresenceReporter(api);
  const report = (update: PresenceReport) => void reporter.report(update);
  const registrar = new Registrar({
    domains: config.domains,
    report,
    minExpiresSeconds: config.minExpiresSeconds,
  });
  const publications = new PresencePublications({
    domains: config.domains,
    report,
    minExpiresSeconds: config.minExpiresSeconds,
  });
  const messageWaiting = new MessageWaiting({
    domains: config.domains,
    local,
    ...(config.outboundProxy ? { outboundProxy: config.outboundProxy.target } : {}),
    originate,
    waitingFor: summaryFromApi(api),
    pollIntervalMs: config.mwiPollIntervalMs,
    minExpiresSeconds: config.minExpiresSeconds,
  });
  const delivery = new Delivery({
    local,
    domain: config.domains[0] ?? config.sipAdvertisedHost,
    ...(config.outboundProxy ? { outboundProxy: config.outboundProxy } : {}),
    originate,
  });
  const refreshSummary = (uri: string) => {
    try {
      void messageWaiting.refresh(aorOf(uri));
    } catch {
      // not a SIP AOR: nobody can be subscribed to it
    }
  };

  // The API removes delivered messages after it read our answer: re-read the count a moment later.
  const settling = new Set<NodeJS.Timeout>();
  const refreshSummaryLater = (uri: string) => {
    const timer = setTimeout(() => {
      settling.delete(timer);
      refreshSummary(uri);
    }, SUMMARY_SETTLE_MS);
    settling.add(timer);
  };

  const handle = createRequestHandler({
    api,
    maxBodyBytes: config.maxBodyBytes,
    retryAfterSeconds: config.retryAfterSeconds,
    maxPendingCaptures: config.maxPendingCaptures,
    ...(config.shedAfterMs !== undefined ? { shedAfterMs: config.shedAfterMs } : {}),
    ...(config.maxCaptureBatch !== undefined ? { maxCaptureBatch: config.maxCaptureBatch } : {}),
    ...(config.maxCaptureCalls !== undefined ? { maxCaptureCalls: config.maxCaptureCalls } : {}),
    registrar,
    publications,
    messageWaiting,
    auth: new DigestAuth({
      api,
      domains: config.domains,
      trustedProxies: config.trustedProxies,
      nonceKey: nonceKeyOf(signingSecretOf(config.secret)),
      algorithms: config.digestAlgorithms,
      cacheMs: config.credentialsCacheMs,
      retryAfterSeconds: config.retryAfterSeconds,
      throttle: new SipAuthThrottle(config.sipAuthThrottle),
    }),
    onCaptured: refreshSummary,
  });
  const sipServer = new SipServer({
    host: config.sipHost,
    port: config.sipPort,
    // headers and framing on top of the largest body we accept
    maxMessageBytes: config.maxBodyBytes + 8192,
    logger: sipLogger,
    handler: async (req, source) => {
      metrics.request(req.method);
      try {
        const reply = await handle(req, source);
        metrics.answer(reply.status);
        return reply;
      } catch (error) {
        metrics.answer(500); // the SIP server answers 500 for a handler that failed
        throw error;
      }
    },
    onResponse: (response) => {
      if (!transactions.receive(response)) logger.debug('sip response matches no transaction', {});
    },
  });
  await sipServer.start();
  sip = sipServer;
  const metricsFlush = setInterval(() => metrics.flush(), METRICS_FLUSH_MS);
  metricsFlush.unref();
  local.port = sipServer.port;
  messageWaiting.start();

  const http = createServer(
    edgeHttpHandler({
      secret: config.secret,
      deliver: (deliverRequest, onOutcome) => delivery.deliver(deliverRequest, onOutcome),
      onDelivered: refreshSummaryLater,
      // a batch of base64 bodies up to the size limit, with room for the JSON around them
      maxBodyBytes: 100 * Math.ceil((config.maxBodyBytes * 4) / 3) + 1_048_576,
    }),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.httpPort, config.httpHost, resolve);
    });
  } catch (error) {
    clearInterval(metricsFlush);
    await sipServer.stop();
    transactions.close();
    registrar.close();
    publications.close();
    await messageWaiting.close();
    api.close();
    throw error;
  }

  return {
    sip: sipServer,
    http,
    stop: async () => {
      // No new calls; batches in flight end at once with 503 for the message being sent (the
      // rest stays held) and get their answer out before the connections close.
      const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
      for (const timer of settling) clearTimeout(timer);
      registrar.close();
      publications.close();
      const notifiesEnded = messageWaiting.close();
      transactions.close();
      await notifiesEnded;
      await new Promise((resolve) => setImmediate(resolve));
      http.closeAllConnections();
      await reporter.drain();
      await sipServer.stop();
      await httpClosed;
      api.close();
      clearInterval(metricsFlush);
      metrics.flush();
    },
  };
}

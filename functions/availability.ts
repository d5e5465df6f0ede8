// GET /v1/availability/{aor} — public (no signature, no token), for web pages: whether a public
// user or group can be reached now (docs/design.md "Groups, availability and click-to-chat").
//   200 {aor, kind: "user"|"group", status: "active"|"away", available: N}
//   200 {aor, status: "na", available: 0}   unknown, or not public: the same answer, headers and reads
//   Accept: text/plain → the status word alone. 429 + Retry-After past the client's rate.
// CORS open (HOLDOVER_CORS_ORIGINS, default *), cacheable (HOLDOVER_AVAILABILITY_MAX_AGE, default 5 s).
// OPTIONS /v1/availability/{aor} answers the preflight (functions/cors.ts, which reads nothing).

import type { Context } from 'aws-lambda';
import { availabilityMaxAgeSeconds, availabilityRatePerMinute } from '../shared/settings.ts';
import { errorResult, type HttpEvent, type HttpResult } from './adapters/http.ts';
import { startInvocation } from './adapters/observability.ts';
import { groupStore, store } from './adapters/store.ts';
import { type Availability, lookUpAvailability } from './core/groups.ts';
import { TokenBuckets, takeOrRefuse } from './core/rate-limit.ts';
import { corsHeaders } from './cors.ts';

const maxAgeSeconds = availabilityMaxAgeSeconds();
/** Per client address and function instance; API Gateway's route throttling caps the total. */
const buckets = new TokenBuckets(availabilityRatePerMinute());

export async function handler(event: HttpEvent, context?: Context): Promise<HttpResult> {
  const correlationId = startInvocation(context, event.requestContext.requestId);
  const cors = corsHeaders(event);
  let answer: Availability;
  try {
    takeOrRefuse(buckets, event.requestContext.http.sourceIp, Date.now());
    answer = await lookUpAvailability(
      decodeURIComponent(event.pathParameters?.aor ?? ''),
      { groups: groupStore, users: store },
      Date.now(),
    );
  } catch (error) {
    const refused = errorResult('availability', error, correlationId);
    return { ...refused, headers: { ...refused.headers, ...cors } };
  }
  const plain = /\btext\/plain\b/i.test(event.headers.accept ?? '');
  return {
    statusCode: 200,
    headers: {
      ...cors,
      'content-type': plain ? 'text/plain; charset=utf-8' : 'application/json',
      'cache-control': `public, max-age=${maxAgeSeconds}`,
      ...(cors.vary ? {} : { vary: 'Accept' }),
    },
    body: plain ? answer.status : JSON.stringify(answer),
  };
}

// Deployment settings, read from the environment by both front doors (infra/app.ts for CDK,
// stacks/Holdover.ts for SST) so one `export` configures either. Unset values fall back to
// documentation placeholders that synthesize but serve nobody; each one used is reported as a
// synth warning naming the variable, never silently.
import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { parseDuration } from '../shared/duration.ts';
import type { HoldoverProps } from './holdover.ts';

interface Setting {
  readonly variable: string;
  readonly placeholder: string;
  readonly meaning: string;
}

const SETTINGS = {
  domains: {
    variable: 'HOLDOVER_DOMAINS',
    placeholder: 'example.com',
    meaning: 'comma-separated SIP domains served',
  },
  mailFrom: {
    variable: 'HOLDOVER_MAIL_FROM',
    placeholder: 'holdover@example.com',
    meaning: 'sender address of digest emails',
  },
  sipProxyCidrs: {
    variable: 'HOLDOVER_SIP_PROXY_CIDRS',
    // TEST-NET-1 (RFC 5737): admits no real proxy.
    placeholder: '192.0.2.0/24',
    meaning: 'comma-separated source ranges of the SIP proxies',
  },
} as const satisfies Record<string, Setting>;

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Props for the Holdover construct from HOLDOVER_* variables:
 * HOLDOVER_DOMAINS, HOLDOVER_MAIL_FROM, HOLDOVER_SES_IDENTITY (default: the mail-from domain),
 * HOLDOVER_SES_IDENTITY_EXISTS=true (use an identity verified outside this stack),
 * HOLDOVER_SIP_PROXY_CIDRS, HOLDOVER_ALARM_EMAIL, HOLDOVER_EXPIRE_AFTER, HOLDOVER_EDGE_TASKS, and
 * the edge's HOLDOVER_OUTBOUND_PROXY, HOLDOVER_SIP_ADVERTISED_HOST, HOLDOVER_DELIVERY_TIMEOUT,
 * HOLDOVER_MWI_POLL_INTERVAL; an OIDC issuer for people: HOLDOVER_OIDC_ISSUER with
 * HOLDOVER_OIDC_AUDIENCE (comma-separated) and HOLDOVER_OIDC_CLAIM (default email); alerts from
 * email: HOLDOVER_INBOUND_DOMAIN (the groups' inbound domain, SES receives its mail); the public
 * routes: HOLDOVER_CORS_ORIGINS, HOLDOVER_AVAILABILITY_MAX_AGE, HOLDOVER_AVAILABILITY_RATE, and
 * click-to-chat's HOLDOVER_CHAT_IDLE, _LIFETIME, _RETAIN, _START_RATE, _LINE_RATE (the names the
 * functions read; unset: the construct's defaults). The edge's own names (OUTBOUND_PROXY…) get the HOLDOVER_ prefix
 * here so that a value exported for `npm start` (a proxy on 127.0.0.1) never reaches a deploy.
 */
export function holdoverPropsFromEnvironment(
  scope: Construct,
  env: Environment,
  removalPolicy: RemovalPolicy,
): HoldoverProps {
  const read = (setting: Setting): string => {
    const value = env[setting.variable]?.trim();
    if (value) return value;
    Annotations.of(scope).addWarningV2(
      `holdover:placeholder:${setting.variable}`,
      `${setting.variable} (${setting.meaning}) is not set: using the placeholder ${setting.placeholder}. Set it before deploying.`,
    );
    return setting.placeholder;
  };
  const list = (text: string) =>
    text
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');

  const mailFrom = read(SETTINGS.mailFrom);
  const mailDomain = mailFrom.split('@')[1];
  if (!mailDomain) throw new Error(`HOLDOVER_MAIL_FROM must be an email address, got "${mailFrom}"`);
  const optional = (variable: string) => env[variable]?.trim() || undefined;
  /** A whole number ≥ min, or undefined when unset; anything else fails synth naming it. */
  const whole = (variable: string, min: number): number | undefined => {
    const text = optional(variable);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!(Number.isInteger(value) && value >= min)) {
      throw new Error(`${variable} must be a whole number ≥ ${min}, got "${text}"`);
    }
    return value;
  };
  /** A duration such as 30s, 72h or 7d, or undefined when unset; anything else fails synth. */
  const duration = (variable: string): string | undefined => {
    const text = optional(variable);
    if (text === undefined) return undefined;
    try {
      parseDuration(text);
    } catch {
      throw new Error(`${variable} must be a duration such as 30s, 72h or 7d, got "${text}"`);
    }
    return text;
  };
  /** The keys whose value is set: an unset one is left to the construct's default. */
  const defined = <T extends Record<string, unknown>>(entries: T) =>
    Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined)) as {
      [K in keyof T]?: Exclude<T[K], undefined>;
    };
  const edgeTasks = whole('HOLDOVER_EDGE_TASKS', 1);
  const outboundProxy = optional('HOLDOVER_OUTBOUND_PROXY');
  if (outboundProxy === undefined) {
    Annotations.of(scope).addWarningV2(
      'holdover:no-outbound-proxy',
      'HOLDOVER_OUTBOUND_PROXY is not set: the edge delivers straight to the contact each UA registered, which ' +
        'must then be reachable from the internet. Behind a proxy, set it to the SIP URI of that proxy.',
    );
  }
  const sipAdvertisedHost = optional('HOLDOVER_SIP_ADVERTISED_HOST');
  const deliveryTimeout = optional('HOLDOVER_DELIVERY_TIMEOUT');
  const mwiPollInterval = optional('HOLDOVER_MWI_POLL_INTERVAL');
  const inboundDomain = optional('HOLDOVER_INBOUND_DOMAIN');
  const corsOrigins = optional('HOLDOVER_CORS_ORIGINS');
  const availability = defined({
    allowOrigins: corsOrigins === undefined ? undefined : list(corsOrigins),
    maxAgeSeconds: whole('HOLDOVER_AVAILABILITY_MAX_AGE', 0),
    ratePerMinute: whole('HOLDOVER_AVAILABILITY_RATE', 1),
  });
  if (availability.allowOrigins?.length === 0) {
    throw new Error('HOLDOVER_CORS_ORIGINS must name at least one origin, or * for any');
  }
  const chat = defined({
    idle: duration('HOLDOVER_CHAT_IDLE'),
    lifetime: duration('HOLDOVER_CHAT_LIFETIME'),
    retain: duration('HOLDOVER_CHAT_RETAIN'),
    startsPerMinute: whole('HOLDOVER_CHAT_START_RATE', 1),
    linesPerMinute: whole('HOLDOVER_CHAT_LINE_RATE', 1),
  });
  const oidcIssuer = optional('HOLDOVER_OIDC_ISSUER');
  const oidcAudience = list(optional('HOLDOVER_OIDC_AUDIENCE') ?? '');
  const oidcClaim = optional('HOLDOVER_OIDC_CLAIM');
  if (oidcIssuer !== undefined && oidcAudience.length === 0) {
    throw new Error(
      'HOLDOVER_OIDC_ISSUER needs HOLDOVER_OIDC_AUDIENCE: the client id(s) its tokens are issued for',
    );
  }
  if (oidcIssuer === undefined && (oidcAudience.length > 0 || oidcClaim !== undefined)) {
    throw new Error(
      'HOLDOVER_OIDC_AUDIENCE and HOLDOVER_OIDC_CLAIM need HOLDOVER_OIDC_ISSUER (the issuer URL)',
    );
  }
  return {
    domains: list(read(SETTINGS.domains)).map((domain) => domain.toLowerCase()),
    mail: {
      identity: env.HOLDOVER_SES_IDENTITY?.trim() || mailDomain,
      from: mailFrom,
      createIdentity: env.HOLDOVER_SES_IDENTITY_EXISTS !== 'true',
    },
    sipProxyCidrs: list(read(SETTINGS.sipProxyCidrs)),
    removalPolicy,
    ...(env.HOLDOVER_ALARM_EMAIL ? { alarmEmail: env.HOLDOVER_ALARM_EMAIL } : {}),
    ...(env.HOLDOVER_EXPIRE_AFTER ? { expireAfter: env.HOLDOVER_EXPIRE_AFTER } : {}),
    ...(edgeTasks ? { edgeTasks } : {}),
    ...(outboundProxy ? { outboundProxy } : {}),
    ...(sipAdvertisedHost ? { sipAdvertisedHost } : {}),
    ...(deliveryTimeout ? { deliveryTimeout } : {}),
    ...(mwiPollInterval ? { mwiPollInterval } : {}),
    ...(inboundDomain ? { inboundMail: { domain: inboundDomain.toLowerCase() } } : {}),
    ...(Object.keys(availability).length > 0 ? { availability } : {}),
    ...(Object.keys(chat).length > 0 ? { chat } : {}),
    ...(oidcIssuer
      ? { oidc: { issuer: oidcIssuer, audience: oidcAudience, ...(oidcClaim ? { claim: oidcClaim } : {}) } }
      : {}),
  };
}

/** Throw-away stages lose their data with the stack; anything else keeps it. */
export function removalPolicyFor(stage: string): RemovalPolicy {
  return stage === 'production' || stage === 'prod' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
}

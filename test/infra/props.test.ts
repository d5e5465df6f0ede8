// What the construct's props change, on the real catalogue synthesized once without bundling
// (only the wiring is under test): the edge's delivery settings, the delivery function's, a
// slower sweep; then the mistakes refused at synth, and the front doors' reading of HOLDOVER_*.
import * as fs from 'node:fs';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionEntry, HOLDOVER_FUNCTIONS } from '../../infra/catalogue.ts';
import { Holdover, type HoldoverProps } from '../../infra/holdover.ts';
import { holdoverPropsFromEnvironment } from '../../infra/settings.ts';
import { edgeEnvironment, functionNamed, resourcesOf, synthHoldover, variablesOf } from './support/synth.ts';

const PROXY = 'sip:proxy.example.com:5060;transport=tcp';
let template: Template;

beforeAll(() => {
  const synthesized = synthHoldover({
    bundle: false,
    props: {
      outboundProxy: PROXY,
      sipAdvertisedHost: 'sip.example.com',
      deliveryTimeout: '20s',
      mwiPollInterval: '1m',
      deliveryBatchSize: 10,
      sweepInterval: Duration.minutes(2),
      oidc: { issuer: 'https://login.example.com/', audience: ['holdover-console'], claim: 'upn' },
      availability: {
        allowOrigins: ['https://www.example.com'],
        maxAgeSeconds: 10,
        ratePerMinute: 30,
        throttle: { ratePerSecond: 20, burst: 40 },
      },
      chat: { idle: '15m', lifetime: '1h', retain: '2d', startsPerMinute: 4, linesPerMinute: 12 },
    },
  });
  template = synthesized.template;
  return () => fs.rmSync(synthesized.outdir, { recursive: true, force: true });
});

describe('delivery settings', () => {
  it('reach the edge task', () => {
    expect(edgeEnvironment(template)).toMatchObject({
      SIP_ADVERTISED_HOST: 'sip.example.com',
      OUTBOUND_PROXY: PROXY,
      DELIVERY_TIMEOUT: '20s',
      MWI_POLL_INTERVAL: '1m',
    });
  });

  it('reach the delivery function, and OUTBOUND_PROXY no other function', () => {
    expect(variablesOf(template, 'delivery')).toMatchObject({
      OUTBOUND_PROXY: PROXY,
      HOLDOVER_DELIVERY_BATCH: '10',
    });
    for (const entry of HOLDOVER_FUNCTIONS) {
      if (entry.name !== 'delivery')
        expect(variablesOf(template, entry.name), entry.name).not.toHaveProperty('OUTBOUND_PROXY');
    }
  });
});

describe('availability settings', () => {
  it('reach the availability function and its preflight as CORS origins, cache age and rate', () => {
    expect(variablesOf(template, 'availability')).toMatchObject({
      HOLDOVER_CORS_ORIGINS: 'https://www.example.com',
      HOLDOVER_AVAILABILITY_MAX_AGE: '10',
      HOLDOVER_AVAILABILITY_RATE: '30',
    });
    expect(variablesOf(template, 'availabilityPreflight')).toMatchObject({
      HOLDOVER_CORS_ORIGINS: 'https://www.example.com',
    });
  });

  it('cap the public routes (availability, chats) at the stage, all clients together, and no other route', () => {
    const stages = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'));
    expect(stages).toHaveLength(1);
    const cap = { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 };
    expect(stages[0]?.Properties.RouteSettings).toEqual({
      'GET /v1/availability/{aor}': cap,
      'POST /v1/chats': cap,
      'POST /v1/chats/{chatId}/messages': cap,
      'GET /v1/chats/{chatId}/messages': cap,
    });
    expect(JSON.stringify((stages[0] as { DependsOn?: unknown }).DependsOn ?? [])).toMatch(/Availability/);
  });
});

describe('chat settings', () => {
  it('reach the chat functions: the CORS origins, the times and the rates', () => {
    const times = { HOLDOVER_CHAT_IDLE: '15m', HOLDOVER_CHAT_LIFETIME: '1h', HOLDOVER_CHAT_RETAIN: '2d' };
    const origins = { HOLDOVER_CORS_ORIGINS: 'https://www.example.com' };
    expect(variablesOf(template, 'startChat')).toMatchObject({
      ...times,
      ...origins,
      HOLDOVER_CHAT_START_RATE: '4',
    });
    expect(variablesOf(template, 'chatPostLine')).toMatchObject({
      ...times,
      ...origins,
      HOLDOVER_CHAT_LINE_RATE: '12',
    });
    expect(variablesOf(template, 'chatRead')).toMatchObject({ ...times, ...origins });
    // a member's answer is captured: capture decides by the same times whether the chat ended
    expect(variablesOf(template, 'capture')).toMatchObject(times);
    for (const name of ['chatsPreflight', 'chatMessagesPreflight'])
      expect(variablesOf(template, name), name).toMatchObject(origins);
  });
});

describe('a two-minute sweep', () => {
  it('schedules the sweeper every two minutes, tells it so, and drops a run that could not start in time', () => {
    const [sweeperId] = functionNamed(template, 'sweeper');
    expect(variablesOf(template, 'sweeper').HOLDOVER_SWEEP_INTERVAL).toBe('120s');
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(2 minutes)' });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: sweeperId },
      MaximumEventAgeInSeconds: 120,
    });
  });

  it('moves the overdue alarm to two sweeps of two minutes', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'overdueSeconds',
      Period: 120,
      Threshold: 240,
      EvaluationPeriods: 2,
      AlarmDescription: Match.stringLikeRegexp('more than 240 s past its expiry'),
    });
  });
});

describe('an OIDC issuer', () => {
  it('puts a JWT authorizer on the routes for a person’s own data, and on no other', () => {
    const authorizers = Object.entries(resourcesOf(template, 'AWS::ApiGatewayV2::Authorizer'));
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0] ?? [];
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://login.example.com/', Audience: ['holdover-console'] },
    });
    const guarded = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route'))
      .filter((route) => route.Properties.AuthorizationType === 'JWT')
      .map((route) => {
        expect(route.Properties.AuthorizerId).toEqual({ Ref: authorizerId });
        return route.Properties.RouteKey;
      });
    expect(guarded.sort()).toEqual([
      'GET /v1/me',
      'GET /v1/me/messages',
      'GET /v1/me/settings',
      'PUT /v1/me/settings',
    ]);
  });

  it('tells exactly those functions which claim names the user', () => {
    for (const entry of HOLDOVER_FUNCTIONS) {
      const claim = variablesOf(template, entry.name).HOLDOVER_OIDC_CLAIM;
      const expected = ['me', 'myMessages', 'getMySettings', 'putMySettings'].includes(entry.name)
        ? 'upn'
        : undefined;
      expect(claim, entry.name).toBe(expected);
    }
  });

  it('is absent by default: no authorizer, people sign in with POST /v1/session', () => {
    const plain = synthHoldover({ bundle: false });
    try {
      expect(Object.keys(resourcesOf(plain.template, 'AWS::ApiGatewayV2::Authorizer'))).toEqual([]);
      expect(variablesOf(plain.template, 'me')).not.toHaveProperty('HOLDOVER_OIDC_CLAIM');
    } finally {
      fs.rmSync(plain.outdir, { recursive: true, force: true });
    }
  });
});

describe('mistakes refused at synth', () => {
  const standIn = { entry: 'functions/health.ts', handler: 'handler' } as const;
  const build = (props: Partial<HoldoverProps>) => () =>
    new Holdover(new Stack(), 'Holdover', {
      domains: ['example.com'],
      mail: { identity: 'example.com', from: 'holdover@example.com' },
      sipProxyCidrs: ['198.51.100.0/24'],
      removalPolicy: RemovalPolicy.DESTROY,
      functions: [],
      ...props,
    });

  it('refuses a chat time that is not a duration', () => {
    expect(build({ chat: { idle: 'ten minutes' } })).toThrow(/chat.idle must be a duration/);
  });

  it('refuses a route declared twice', () => {
    const route = { kind: 'http', method: 'GET', path: '/v1/health', who: ['public'] } as const;
    const functions: FunctionEntry[] = [
      { name: 'one', ...standIn, trigger: route, access: {} },
      { name: 'two', ...standIn, trigger: route, access: {} },
    ];
    expect(build({ functions })).toThrow(/Route GET \/v1\/health is declared twice/);
  });

  it('refuses a token route without the revocation check, and a signed write without the replay guard', () => {
    const tokenRoute = { kind: 'http', method: 'GET', path: '/v1/me', who: ['user'] } as const;
    expect(
      build({
        functions: [{ name: 'me', ...standIn, trigger: tokenRoute, access: { signingSecret: true } }],
      }),
    ).toThrow(/takes tokens: it needs signingSecret and sessions: \['GetItem'\]/);
    const signedWrite = { kind: 'http', method: 'PUT', path: '/v1/x', who: ['operator'] } as const;
    expect(
      build({
        functions: [{ name: 'x', ...standIn, trigger: signedWrite, access: { signingSecret: true } }],
      }),
    ).toThrow(/replayGuard is for routes that take signed calls that change state/);
  });

  it('refuses two consumers of one queue', () => {
    const trigger = { kind: 'queue', queue: 'expired' } as const;
    const functions: FunctionEntry[] = [
      { name: 'one', ...standIn, trigger, access: {} },
      { name: 'two', ...standIn, trigger, access: {} },
    ];
    expect(build({ functions })).toThrow(/expired queue has two consumers: one and two/);
  });

  it('refuses an outbound proxy the edge could not use', () => {
    expect(build({ outboundProxy: 'sips:proxy.example.com' })).toThrow(/outboundProxy .*TLS/);
    expect(build({ outboundProxy: 'proxy.example.com:5060' })).toThrow(/outboundProxy/);
    expect(build({ outboundProxy: 'sip:proxy.example.com;transport=sctp' })).toThrow(/sctp/);
  });

  it('refuses malformed durations and a delivery batch above 100', () => {
    expect(build({ deliveryTimeout: '32' })).toThrow(/deliveryTimeout must be a duration/);
    expect(build({ mwiPollInterval: 'soon' })).toThrow(/mwiPollInterval must be a duration/);
    expect(build({ expireAfter: '3 days' })).toThrow(/expireAfter must be a duration/);
    expect(build({ deliveryBatchSize: 101 })).toThrow(
      /deliveryBatchSize must be a whole number from 1 to 100/,
    );
    expect(build({ deliveryBatchSize: 0 })).toThrow(/deliveryBatchSize/);
    expect(build({ domains: [] })).toThrow(/at least one SIP domain/);
  });
});

describe('front doors reading HOLDOVER_*', () => {
  it("map the edge's prefixed variables to props", () => {
    const props = holdoverPropsFromEnvironment(
      new Stack(),
      {
        HOLDOVER_DOMAINS: 'Example.com, corp.example.com',
        HOLDOVER_MAIL_FROM: 'holdover@example.com',
        HOLDOVER_SIP_PROXY_CIDRS: '203.0.113.10/32',
        HOLDOVER_OUTBOUND_PROXY: PROXY,
        HOLDOVER_SIP_ADVERTISED_HOST: 'sip.example.com',
        HOLDOVER_DELIVERY_TIMEOUT: '20s',
        HOLDOVER_MWI_POLL_INTERVAL: '1m',
        // The local runtime's names are not deploy settings.
        OUTBOUND_PROXY: 'sip:127.0.0.1:5070',
      },
      RemovalPolicy.DESTROY,
    );
    expect(props).toMatchObject({
      domains: ['example.com', 'corp.example.com'],
      outboundProxy: PROXY,
      sipAdvertisedHost: 'sip.example.com',
      deliveryTimeout: '20s',
      mwiPollInterval: '1m',
    });
  });

  it('map the inbound domain of alerts from email; without it there is none', () => {
    const base = {
      HOLDOVER_DOMAINS: 'example.com',
      HOLDOVER_MAIL_FROM: 'holdover@example.com',
      HOLDOVER_SIP_PROXY_CIDRS: '203.0.113.10/32',
    };
    const props = holdoverPropsFromEnvironment(
      new Stack(),
      { ...base, HOLDOVER_INBOUND_DOMAIN: ' Alerts.Example.com ' },
      RemovalPolicy.DESTROY,
    );
    expect(props.inboundMail).toEqual({ domain: 'alerts.example.com' });
    expect(
      holdoverPropsFromEnvironment(new Stack(), base, RemovalPolicy.DESTROY).inboundMail,
    ).toBeUndefined();
  });

  it('map the OIDC issuer, and refuse half of it', () => {
    const base = {
      HOLDOVER_DOMAINS: 'example.com',
      HOLDOVER_MAIL_FROM: 'holdover@example.com',
      HOLDOVER_SIP_PROXY_CIDRS: '203.0.113.10/32',
    };
    const props = holdoverPropsFromEnvironment(
      new Stack(),
      { ...base, HOLDOVER_OIDC_ISSUER: 'https://login.example.com/', HOLDOVER_OIDC_AUDIENCE: 'a, b' },
      RemovalPolicy.DESTROY,
    );
    expect(props.oidc).toEqual({ issuer: 'https://login.example.com/', audience: ['a', 'b'] });
    expect(() =>
      holdoverPropsFromEnvironment(
        new Stack(),
        { ...base, HOLDOVER_OIDC_ISSUER: 'https://x/' },
        RemovalPolicy.DESTROY,
      ),
    ).toThrow(/needs HOLDOVER_OIDC_AUDIENCE/);
    expect(() =>
      holdoverPropsFromEnvironment(
        new Stack(),
        { ...base, HOLDOVER_OIDC_CLAIM: 'upn' },
        RemovalPolicy.DESTROY,
      ),
    ).toThrow(/need HOLDOVER_OIDC_ISSUER/);
  });

  it('map the public routes’ and the chat’s settings, refuse malformed ones, and leave unset ones to the construct', () => {
    const base = {
      HOLDOVER_DOMAINS: 'example.com',
      HOLDOVER_MAIL_FROM: 'holdover@example.com',
      HOLDOVER_SIP_PROXY_CIDRS: '203.0.113.10/32',
    };
    const props = holdoverPropsFromEnvironment(
      new Stack(),
      {
        ...base,
        HOLDOVER_CORS_ORIGINS: 'https://www.example.com, https://shop.example.com',
        HOLDOVER_AVAILABILITY_MAX_AGE: '0',
        HOLDOVER_AVAILABILITY_RATE: '30',
        HOLDOVER_CHAT_IDLE: '15m',
        HOLDOVER_CHAT_LIFETIME: '1h',
        HOLDOVER_CHAT_RETAIN: '2d',
        HOLDOVER_CHAT_START_RATE: '4',
        HOLDOVER_CHAT_LINE_RATE: ' 12 ',
      },
      RemovalPolicy.DESTROY,
    );
    expect(props.availability).toEqual({
      allowOrigins: ['https://www.example.com', 'https://shop.example.com'],
      maxAgeSeconds: 0,
      ratePerMinute: 30,
    });
    expect(props.chat).toEqual({
      idle: '15m',
      lifetime: '1h',
      retain: '2d',
      startsPerMinute: 4,
      linesPerMinute: 12,
    });
    // one set, the others left to the construct's defaults
    const some = holdoverPropsFromEnvironment(
      new Stack(),
      { ...base, HOLDOVER_CHAT_IDLE: '5m' },
      RemovalPolicy.DESTROY,
    );
    expect(some.chat).toEqual({ idle: '5m' });
    expect(some).not.toHaveProperty('availability');
    const none = holdoverPropsFromEnvironment(new Stack(), base, RemovalPolicy.DESTROY);
    expect(none).not.toHaveProperty('chat');
    expect(none).not.toHaveProperty('availability');

    const refused = (variable: string, value: string) => () =>
      holdoverPropsFromEnvironment(new Stack(), { ...base, [variable]: value }, RemovalPolicy.DESTROY);
    expect(refused('HOLDOVER_CHAT_IDLE', 'soon')).toThrow(/HOLDOVER_CHAT_IDLE must be a duration.*"soon"/);
    expect(refused('HOLDOVER_CHAT_RETAIN', '7 days')).toThrow(/HOLDOVER_CHAT_RETAIN must be a duration/);
    expect(refused('HOLDOVER_CHAT_START_RATE', '0')).toThrow(
      /HOLDOVER_CHAT_START_RATE must be a whole number ≥ 1/,
    );
    expect(refused('HOLDOVER_CHAT_LINE_RATE', '2.5')).toThrow(
      /HOLDOVER_CHAT_LINE_RATE must be a whole number/,
    );
    expect(refused('HOLDOVER_AVAILABILITY_MAX_AGE', '-1')).toThrow(/≥ 0, got "-1"/);
    expect(refused('HOLDOVER_AVAILABILITY_RATE', 'many')).toThrow(/HOLDOVER_AVAILABILITY_RATE/);
    expect(refused('HOLDOVER_CORS_ORIGINS', ' , ')).toThrow(/HOLDOVER_CORS_ORIGINS must name/);
  });

  it('warn when no outbound proxy is set, and leave the edge defaults to the construct', () => {
    const stack = new Stack();
    const props = holdoverPropsFromEnvironment(
      stack,
      { OUTBOUND_PROXY: 'sip:127.0.0.1:5070' },
      RemovalPolicy.DESTROY,
    );
    expect(props).not.toHaveProperty('outboundProxy');
    expect(props).not.toHaveProperty('deliveryTimeout');
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('HOLDOVER_OUTBOUND_PROXY is not set'),
    );
  });
});

describe('defaults of the real catalogue', () => {
  it('leave no queue without its consumer', () => {
    const consumed = HOLDOVER_FUNCTIONS.flatMap((entry) =>
      entry.trigger.kind === 'queue' ? [entry.trigger.queue] : [],
    );
    expect(consumed.sort()).toEqual(['delivery', 'expired']);
    expect(Object.keys(resourcesOf(template, 'AWS::Lambda::EventSourceMapping'))).toHaveLength(2);
  });
});

// The credential chain of the Lambda bundles (functions/adapters/lambda-credentials.ts, aliased for
// the SDK's default one by infra/bundling.ts): the environment first, as Lambda hands a function
// its role; a container endpoint when one is named; no profile, SSO or process links.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultProvider } from '../../functions/adapters/lambda-credentials.ts';

const NAMES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_PROFILE',
] as const;
const saved = Object.fromEntries(NAMES.map((name) => [name, process.env[name]]));

beforeEach(() => {
  for (const name of NAMES) delete process.env[name];
  // never reach for a real instance metadata endpoint from a test
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
});
afterEach(() => {
  for (const name of NAMES) {
    const value = saved[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('the Lambda credential chain', () => {
  it("answers with the role's credentials from the environment, and keeps them", async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.AWS_SESSION_TOKEN = 'token';
    const provider = defaultProvider({});
    expect(await provider()).toMatchObject({
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'token',
    });
    process.env.AWS_ACCESS_KEY_ID = 'AKIAOTHER';
    expect((await provider()).accessKeyId).toBe('AKIAEXAMPLE');
  });

  it('takes them from the container endpoint when the environment has none', async () => {
    const expiration = new Date(Date.now() + 3_600_000).toISOString();
    let authorization: string | undefined;
    const server = http.createServer((request, response) => {
      authorization = request.headers.authorization;
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          AccessKeyId: 'ASIACONTAINER',
          SecretAccessKey: 'container-secret',
          Token: 'container-token',
          Expiration: expiration,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `http://127.0.0.1:${port}/credentials`;
      process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = 'let-me-in';
      const credentials = await defaultProvider({})();
      expect(credentials).toMatchObject({
        accessKeyId: 'ASIACONTAINER',
        secretAccessKey: 'container-secret',
        sessionToken: 'container-token',
      });
      expect(credentials.expiration?.toISOString()).toBe(expiration);
      expect(authorization).toBe('let-me-in');
    } finally {
      server.close();
    }
  });

  it('says so when no link has credentials', async () => {
    await expect(defaultProvider({})()).rejects.toThrow('Could not load credentials from any providers');
  });
});

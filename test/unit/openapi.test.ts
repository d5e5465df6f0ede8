// docs/openapi.json is generated (`npm run openapi`) from the route catalogue and the zod schemas
// the handlers parse with; this fails when the committed file is stale, and checks that every
// HTTP route of the catalogue is described, with the callers its catalogue entry declares.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HOLDOVER_FUNCTIONS } from '../../infra/catalogue.ts';
import { buildOpenApi, OPENAPI_FILE, renderOpenApi } from '../../infra/openapi.ts';

describe('OpenAPI document', () => {
  it('is what `npm run openapi` generates now (run it after changing a route or a schema)', async () => {
    const committed = fs.readFileSync(OPENAPI_FILE, 'utf8');
    expect(committed === (await renderOpenApi()), 'docs/openapi.json is stale: run `npm run openapi`').toBe(
      true,
    );
  });

  it('describes every HTTP route of the catalogue, with its method, and no other', async () => {
    const document = await buildOpenApi();
    expect(document.openapi).toBe('3.1.0');
    const described = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const routes = HOLDOVER_FUNCTIONS.flatMap((entry) =>
      entry.trigger.kind === 'http' ? [`${entry.trigger.method} ${entry.trigger.path}`] : [],
    );
    expect(described.sort()).toEqual(routes.sort());
  });

  it("states each route's callers as its catalogue declares them, and takes the zod schemas as bodies", async () => {
    const document = await buildOpenApi();
    for (const entry of HOLDOVER_FUNCTIONS) {
      if (entry.trigger.kind !== 'http') continue;
      const { who, path, method } = entry.trigger;
      const operation = document.paths[path]?.[method.toLowerCase()] as { security: unknown[] };
      const expected = who.includes('public')
        ? []
        : [
            ...(who.includes('operator') ? [{ holdoverSignature: [] }] : []),
            ...(who.includes('chat') ? [{ chatToken: [] }] : []),
            ...(who.some((caller) => caller !== 'operator' && caller !== 'chat')
              ? [{ bearerToken: [] }]
              : []),
          ];
      expect(operation.security, `${method} ${path}`).toEqual(expected);
    }
    // the edge's routes take signed calls only; the public ones are these
    expect((document.paths['/v1/messages']?.post as { security?: unknown[] } | undefined)?.security).toEqual([
      { holdoverSignature: [] },
    ]);
    const open = HOLDOVER_FUNCTIONS.filter(
      (entry) => entry.trigger.kind === 'http' && entry.trigger.who.includes('public'),
    ).map((entry) => entry.name);
    expect(open.sort()).toEqual([
      'availability',
      'availabilityPreflight',
      'chatMessagesPreflight',
      'chatPage',
      'chatScript',
      'chatsPreflight',
      'console',
      'consoleAsset',
      'health',
      'signIn',
      'startChat',
    ]);
    const capture = document.paths['/v1/messages']?.post as {
      requestBody: { content: { 'application/json': { schema: { required: string[] } } } };
    };
    expect(capture.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['callId', 'cseq', 'from', 'to', 'contentType', 'body']),
    );
  });

  it('names a route the catalogue gains but the document does not describe', async () => {
    const extra = {
      ...HOLDOVER_FUNCTIONS[0],
      name: 'undescribed',
      trigger: { kind: 'http', method: 'GET', path: '/v1/undescribed', who: ['operator'] },
    } as (typeof HOLDOVER_FUNCTIONS)[number];
    await expect(buildOpenApi([...HOLDOVER_FUNCTIONS, extra])).rejects.toThrow(/undescribed/);
  });
});

// Interop: Kamailio (Debian's package) as the proxy in front of Holdover, configured as
// docs/proxy-integration.md says (test/e2e/kamailio/proxy.cfg): MESSAGEs to absent users reach
// the edge through the proxy, a REGISTER copy (t_replicate) tells Holdover the user is back,
// and the held messages go out through the proxy (OUTBOUND_PROXY) to the registered UA.
// Kamailio listens on 127.0.0.2, the one address the edge trusts (HOLDOVER_TRUSTED_PROXIES): its
// REGISTER copies are taken without a digest challenge, while the same REGISTER sent straight
// from a UA (127.0.0.1) is refused.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningKamailio, startKamailio } from '../support/kamailio.ts';
import { freePort, freePorts } from '../support/ports.ts';
import { sipp } from '../support/sipp.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';
import { waitUntil } from '../support/ua.ts';

let system: RunningSystem;
let kamailio: RunningKamailio;
const PROXY_HOST = '127.0.0.2';

beforeAll(async () => {
  const [sipPort = 0, proxyPort = 0] = await freePorts(2);
  kamailio = await startKamailio(sipPort, proxyPort, PROXY_HOST);
  system = await startSystem({
    env: {
      SIP_PORT: String(sipPort),
      OUTBOUND_PROXY: `sip:${PROXY_HOST}:${proxyPort};transport=tcp`,
      HOLDOVER_TRUSTED_PROXIES: `${PROXY_HOST}/32`,
      DELIVERY_TIMEOUT: '8s',
    },
  });
});
afterAll(async () => {
  await system?.stop();
  await kamailio?.stop();
});

describe('Holdover behind Kamailio', () => {
  it('stores through the proxy, learns of the REGISTER, and delivers through the proxy in order', async () => {
    const user = `bob-${randomBytes(4).toString('hex')}`;
    const aor = `sip:${user}@example.com`;
    const bodies = ['first through Kamailio', 'zweite Nachricht 🎉', '<b>third</b> & last'];
    const stored = await sipp({
      scenario: 'message_uac.xml',
      target: `${PROXY_HOST}:${kamailio.port}`,
      calls: 3,
      rate: 5,
      inject: bodies.map((body) => `${user};${body};Alice;alice`),
    });
    expect(stored.code, stored.errors + stored.screen + kamailio.log().slice(-2000)).toBe(0);
    expect((await heldFor(system, aor)).map((m) => m.body?.trimEnd())).toEqual(bodies);

    const uasPort = await freePort();
    const ua = sipp({
      scenario: 'message_uas.xml',
      localPort: uasPort,
      calls: 3,
      traceLogs: true,
      timeoutSeconds: 30,
      extraArgs: ['-set', 'accept', '3'],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const registered = await sipp({
      scenario: 'register_uac.xml',
      target: `${PROXY_HOST}:${kamailio.port}`,
      calls: 1,
      extraArgs: ['-s', user],
      keys: { uas_port: String(uasPort), uas_transport: 'udp', expires: '300' },
    });
    expect(registered.code, registered.errors + registered.screen).toBe(0);
    const received = await ua;
    // The same REGISTER straight from the UA's own address is no proxy's: the user has no
    // credentials, so it is refused.
    const direct = await sipp({
      scenario: 'register_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 1,
      extraArgs: ['-s', user],
      keys: { uas_port: String(uasPort), uas_transport: 'udp', expires: '300' },
      timeoutSeconds: 5,
    });
    expect(direct.code).not.toBe(0);
    expect(direct.errors + direct.screen).toMatch(/403/);
    expect(received.code, received.errors + received.screen + kamailio.log().slice(-3000)).toBe(0);
    const lines = received.logs.split('\n').filter((line) => line.startsWith('RECV '));
    expect(lines.map((line) => line.split('|')[4])).toEqual(bodies);
    expect(lines.every((line) => line.split('|')[2]?.trim() === 'sip:alice@example.com')).toBe(true);
    await waitUntil('nothing held', async () =>
      (await heldFor(system, aor)).length === 0 ? true : undefined,
    );

    // The UA is gone but still registered: the proxy's relay times out (408), its failure route
    // hands the MESSAGE to Holdover (202), and Holdover's own attempt, marked
    // X-Holdover-Delivery, is not captured again: the message waits, held once.
    const late = await sipp({
      scenario: 'message_uac.xml',
      target: `${PROXY_HOST}:${kamailio.port}`,
      calls: 1,
      inject: [`${user};after the UA left;Alice;alice`],
      timeoutSeconds: 40,
    });
    expect(late.code, late.errors + late.screen).toBe(0);
    const held = await waitUntil(
      'the late message held and its delivery attempt over',
      async () => {
        const now = await heldFor(system, aor);
        return now.length === 1 && now[0]?.state === 'pending' ? now : undefined;
      },
      40_000,
    );
    expect(held[0]?.body?.trimEnd()).toBe('after the UA left');
  });
});

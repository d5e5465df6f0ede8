// msilo's peer scripts listen on fixed ports (Kamailio on 127.0.0.1:5060, sipp on 5070-5074): a
// bench that runs them first waits, bounded, until no other process (another bench's Kamailio or
// sipp) holds them, instead of failing half-way.
import { createSocket } from 'node:dgram';

const PEER_PORTS = [5060, 5070, 5071, 5072, 5073, 5074];

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/** Undefined once the peer's ports are free; else which are still taken after `waitMs`. */
export async function peerPortsBusy(waitMs = 90_000): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const busy: number[] = [];
    for (const port of PEER_PORTS) if (!(await udpFree(port))) busy.push(port);
    if (busy.length === 0) return undefined;
    if (Date.now() > deadline) return `127.0.0.1 UDP ${busy.join(', ')} in use (another Kamailio or sipp)`;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// The Edge port over HTTP (functions/adapters/edge-client.ts) against a real HTTP server on
// loopback standing in for the edge's /deliver: the streamed outcome lines, a stream cut short
// (the edge went away: what was heard counts, the batch is incomplete), a refusal, a stray line.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpEdge } from '../../functions/adapters/edge-client.ts';
import { freePort } from '../support/ports.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

async function edgeAnswering(answer: (response: ServerResponse, body: string) => void): Promise<HttpEdge> {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => answer(response, body));
  });
  await new Promise<void>((done) => server?.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  return new HttpEdge(`http://127.0.0.1:${port}`, async () => 'edge-client-test-secret-0123456789', 5000);
}

const batch = { recipient: 'sip:bob@example.com', messages: [] };
const outcome = (id: string) => `${JSON.stringify({ id, status: 200, reason: 'OK' })}\n`;

describe('HttpEdge', () => {
  it('reads each outcome line as it comes and the end of the batch, after telling it was accepted', async () => {
    let posted = '';
    const edge = await edgeAnswering((response, body) => {
      posted = body;
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      response.write(outcome('a'));
      // a line split across two chunks
      const second = outcome('b');
      response.write(second.slice(0, 5));
      setTimeout(() => response.end(`${second.slice(5)}{"done":true}\n`), 20);
    });
    let accepted = 0;
    const answer = await edge.deliver(batch, { accepted: () => accepted++ });
    expect(JSON.parse(posted)).toEqual(batch);
    expect(accepted).toBe(1);
    expect(answer).toEqual({
      complete: true,
      outcomes: [
        { id: 'a', status: 200, reason: 'OK' },
        { id: 'b', status: 200, reason: 'OK' },
      ],
    });
  });

  it('keeps what it heard when the stream breaks mid-batch, and says the batch is incomplete', async () => {
    const edge = await edgeAnswering((response) => {
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      response.write(outcome('a'));
      setTimeout(() => response.destroy(), 20);
    });
    expect(await edge.deliver(batch)).toEqual({
      complete: false,
      outcomes: [{ id: 'a', status: 200, reason: 'OK' }],
    });
  });

  it('is incomplete when a line is not an outcome', async () => {
    const edge = await edgeAnswering((response) => {
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      response.end(`${outcome('a')}{"what":1}\n{"done":true}\n`);
    });
    expect((await edge.deliver(batch)).complete).toBe(false);
  });

  it('rejects with the status and the start of the body when the edge refuses the call', async () => {
    const edge = await edgeAnswering((response) => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end('{"error":"bad_signature"}');
    });
    await expect(edge.deliver(batch)).rejects.toThrow(/edge answered 401: \{"error":"bad_signature"\}/);
  });

  it('rejects when nothing listens', async () => {
    const port = await freePort(); // free: nothing listens there
    const edge = new HttpEdge(
      `http://127.0.0.1:${port}`,
      async () => 'edge-client-test-secret-0123456789',
      2000,
    );
    await expect(edge.deliver(batch)).rejects.toThrow();
  });
});

/**
 * The webhook receiver of the webhook suites (test-only module): a loopback HTTP server that
 * verifies every request with the `standardwebhooks` package, and can go down and come back on
 * the same port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Receipt {
  id: string;
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- CloudEvent data read by assertions
  event: any;
  verified: boolean;
}

/** A webhook receiver on a loopback port: verifies signatures, can go down and come back on the same port. */
export async function startReceiver(secretOf: () => string | undefined) {
  const receipts: Receipt[] = [];
  let answer = 200;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let verified = false;
      const secret = secretOf();
      try {
        if (secret) {
          new Webhook(secret).verify(body, headers);
          verified = true;
        }
      } catch {
        verified = false;
      }
      const event = JSON.parse(body);
      if (answer >= 200 && answer < 300) receipts.push({ id: headers['webhook-id']!, type: event.type, event, verified });
      res.writeHead(answer, { 'content-type': 'text/plain' });
      res.end(answer === 200 ? 'ok thanks' : 'not now');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    receipts,
    set status(s: number) {
      answer = s;
    },
    /** Closes the listener and every open connection: connections are refused from now on. */
    async down(): Promise<void> {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async up(): Promise<void> {
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close(): Promise<void> {
      if (server.listening) await this.down();
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** How many times each item occurs. */
export const countBy = (items: string[]) => items.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());

// moto behind the gate: requests the gate lets through go there unchanged, over kept-alive
// connections (the gate must not be what limits a benchmark).
import http from 'node:http';

import type { WireRequest } from './sigv4';

export interface UpstreamAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

export class Upstream {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(readonly url: string) {}

  forward(request: WireRequest): Promise<UpstreamAnswer> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers))
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value as string | string[];
    headers['content-length'] = String(request.body.length);
    return new Promise((resolve, reject) => {
      const req = http.request(
        new URL(request.url, this.url),
        { method: request.method, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const out: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(res.headers))
              if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
            resolve({ status: res.statusCode ?? 502, headers: out, body: Buffer.concat(chunks) });
          });
        },
      );
      req.on('error', reject);
      req.end(request.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

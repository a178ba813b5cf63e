// The gate's control API, for tests in other processes (JSON over HTTP under /gate/ on the AWS
// endpoint): faults, call counts, the clock, the lab cluster's name. Lab-only; no authentication.
import type { FaultBook, CallCounter, GateClock } from './faults';
import { parseFaultSpec } from './faults';
import type { LabCluster } from './pod-identity';
import { clusterArn } from './pod-identity';
import type { WireRequest } from './sigv4';

export interface ControlParts {
  faults: FaultBook;
  calls: CallCounter;
  clock: GateClock;
  cluster: LabCluster;
}

export interface ControlAnswer {
  status: number;
  body: unknown;
}

function parseBody(wire: WireRequest): unknown {
  if (wire.body.length === 0) return {};
  return JSON.parse(wire.body.toString('utf8')) as unknown;
}

export function handleControl(wire: WireRequest, p: ControlParts): ControlAnswer {
  const url = new URL(wire.url, 'http://gate');
  const route = `${wire.method} ${url.pathname.replace(/\/+$/, '')}`;
  const query = Object.fromEntries(url.searchParams.entries());
  try {
    switch (route) {
      case 'GET /gate/health':
        return { status: 200, body: { status: 'ok' } };
      case 'GET /gate/faults':
        return { status: 200, body: { faults: p.faults.list() } };
      case 'POST /gate/faults':
        return { status: 200, body: p.faults.add(parseFaultSpec(parseBody(wire))) };
      case 'DELETE /gate/faults':
        p.faults.clear();
        return { status: 200, body: {} };
      case 'GET /gate/calls':
        return { status: 200, body: { count: p.calls.count(query), calls: p.calls.snapshot() } };
      case 'DELETE /gate/calls':
        p.calls.reset();
        return { status: 200, body: {} };
      case 'GET /gate/clock':
        return {
          status: 200,
          body: { offsetSeconds: p.clock.offsetMs / 1000, now: new Date(p.clock.now()) },
        };
      case 'PUT /gate/clock': {
        const offset = (parseBody(wire) as { offsetSeconds?: unknown }).offsetSeconds;
        if (typeof offset !== 'number') throw new Error('offsetSeconds must be a number');
        p.clock.offsetMs = offset * 1000;
        return { status: 200, body: { offsetSeconds: offset } };
      }
      case 'GET /gate/cluster':
        return {
          status: 200,
          body: { ...p.cluster, arn: clusterArn(p.cluster) },
        };
    }
    const fault = /^DELETE \/gate\/faults\/([\w-]+)$/.exec(route);
    if (fault) {
      const removed = p.faults.remove(fault[1] as string);
      return removed ? { status: 200, body: {} } : { status: 404, body: { message: `no fault ${fault[1]}` } };
    }
    return { status: 404, body: { message: `no control route ${route}` } };
  } catch (err) {
    return { status: 400, body: { message: (err as Error).message } };
  }
}

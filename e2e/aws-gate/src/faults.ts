// What tests ask the lab's AWS for beyond AWS's own behaviour: faults on demand (throttling, server
// errors, latency) for calls matching a service, operation and region, a count of every call, and
// a clock that can be moved forward (expired sessions and tokens without waiting an hour).

export type FaultKind = 'throttle' | 'server-error' | 'latency';

export interface FaultSpec {
  service?: string;
  operation?: string;
  region?: string;
  kind: FaultKind;
  latencyMs?: number;
  /** How many matching calls it affects; unlimited when absent. */
  times?: number;
}

export interface Fault extends FaultSpec {
  id: string;
}

export interface CallKey {
  service: string;
  operation: string;
  region: string;
}

const KINDS = new Set<FaultKind>(['throttle', 'server-error', 'latency']);

/** A fault from the control API's JSON, checked field by field. */
export function parseFaultSpec(raw: unknown): FaultSpec {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (!KINDS.has(r.kind as FaultKind))
    throw new Error(`fault kind must be one of ${[...KINDS].join(', ')}, not ${JSON.stringify(r.kind)}`);
  for (const field of ['service', 'operation', 'region'] as const)
    if (r[field] !== undefined && typeof r[field] !== 'string')
      throw new Error(`fault ${field} must be a string`);
  for (const field of ['latencyMs', 'times'] as const)
    if (r[field] !== undefined && (typeof r[field] !== 'number' || (r[field] as number) < 0))
      throw new Error(`fault ${field} must be a number >= 0`);
  return {
    kind: r.kind as FaultKind,
    service: r.service as string | undefined,
    operation: r.operation as string | undefined,
    region: r.region as string | undefined,
    latencyMs: r.latencyMs as number | undefined,
    times: r.times as number | undefined,
  };
}

export class FaultBook {
  private faults: Fault[] = [];
  private nextId = 1;

  add(spec: FaultSpec): Fault {
    const fault = { ...spec, id: String(this.nextId++) };
    this.faults.push(fault);
    return fault;
  }

  remove(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length < before;
  }

  clear(): void {
    this.faults = [];
  }

  list(): readonly Fault[] {
    return this.faults;
  }

  /** The first fault of `kind` that matches the call, using up one of its `times`. */
  take(call: CallKey, kind: FaultKind): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        f.kind === kind &&
        (f.service === undefined || f.service === call.service) &&
        (f.operation === undefined || f.operation === call.operation) &&
        (f.region === undefined || f.region === call.region) &&
        (f.times === undefined || f.times > 0),
    );
    if (fault?.times !== undefined) fault.times -= 1;
    return fault;
  }
}

export class CallCounter {
  private readonly counts = new Map<string, number>();

  record(call: CallKey): void {
    const key = `${call.service}|${call.operation}|${call.region}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Calls matching every given field. */
  count(filter: Partial<CallKey>): number {
    let total = 0;
    for (const [key, n] of this.counts) {
      const [service, operation, region] = key.split('|');
      if (
        (filter.service === undefined || filter.service === service) &&
        (filter.operation === undefined || filter.operation === operation) &&
        (filter.region === undefined || filter.region === region)
      )
        total += n;
    }
    return total;
  }

  /** `service.Operation` -> calls in every region. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, n] of this.counts) {
      const [service, operation] = key.split('|');
      out[`${service}.${operation}`] = (out[`${service}.${operation}`] ?? 0) + n;
    }
    return out;
  }

  reset(): void {
    this.counts.clear();
  }
}

/** The gate's clock: real time plus an offset tests set to make sessions and tokens expire. */
export class GateClock {
  offsetMs = 0;
  now = (): number => Date.now() + this.offsetMs;
}

// How parameters are named to SSM's GetParameters, and how its answers are matched back: one call
// takes at most ten names, and since not every SSM implementation returns the Selector field, an
// answer is found by its Name or ARN alone, so no name may go twice into one call. Used by the
// fetch of one mount and by the coalescer that joins the calls of many.
import type { Parameter } from '@aws-sdk/client-ssm';

import type { ObjectDescriptor } from '../parameters/descriptors';

/** Names one GetParameters call takes at most. */
export const SSM_NAMES_PER_CALL = 10;

export interface ParameterRequest {
  name: string;
  version: string | undefined;
  label: string | undefined;
}

/** The name as sent: `name`, `name:3` or `name:label`. */
export function selectorOf(req: ParameterRequest): string {
  if (req.version !== undefined) return `${req.name}:${req.version}`;
  if (req.label !== undefined) return `${req.name}:${req.label}`;
  return req.name;
}

/** The parameter name of an SSM selector (`name`, `name:3`, `name:label`, or an ARN with those). */
export function parameterNameOf(selector: string): string {
  // Names hold no colon; an ARN's last own colon is followed by `parameter/...`, with a slash.
  return selector.replace(/:[^:/]+$/, '');
}

/** What goes out in one GetParameters call: at most SSM_NAMES_PER_CALL items, no name twice. */
export class NameBatch<T> {
  readonly items: T[] = [];
  private readonly names = new Set<string>();

  /** Whether an item with these names may join: there is room, and none of them is here yet. */
  fits(names: readonly string[]): boolean {
    return this.items.length < SSM_NAMES_PER_CALL && !names.some((n) => this.names.has(n));
  }

  add(item: T, names: readonly string[]): void {
    this.items.push(item);
    for (const n of names) this.names.add(n);
  }
}

/** Parameters in GetParameters batches, each in the first one it fits in (its failover name too). */
export function parameterBatches(parameters: readonly ObjectDescriptor[]): ObjectDescriptor[][] {
  const batches: Array<NameBatch<ObjectDescriptor>> = [];
  for (const d of parameters) {
    const names = [d.objectName, ...(d.failover ? [d.failover.objectName] : [])];
    let batch = batches.find((b) => b.fits(names));
    if (!batch) batches.push((batch = new NameBatch()));
    batch.add(d, names);
  }
  return batches.map((b) => b.items);
}

/** A GetParameters answer's parameters by Name and by ARN: look one up by the name it was asked by. */
export function parametersByName(parameters: readonly Parameter[] | undefined): Map<string, Parameter> {
  const byName = new Map<string, Parameter>();
  for (const p of parameters ?? []) for (const key of [p.Name, p.ARN]) if (key) byName.set(key, p);
  return byName;
}

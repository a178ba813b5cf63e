// Where each kind of workload keeps its pod spec, so that every kind that makes pods is checked.

/** kind -> path of the pod spec inside the object. */
const POD_SPEC_PATHS: Record<string, readonly string[]> = {
  Pod: ['spec'],
  PodTemplate: ['template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

export interface PodSpecAt {
  /** The pod spec, as plain data. */
  spec: Record<string, unknown>;
  /** Its path in the object, such as `spec.template.spec`. */
  path: string;
}

export function podSpecOf(object: Record<string, unknown>): PodSpecAt | undefined {
  const steps = typeof object.kind === 'string' ? POD_SPEC_PATHS[object.kind] : undefined;
  if (!steps) return undefined;
  let value: unknown = object;
  for (const step of steps) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return { spec: value as Record<string, unknown>, path: steps.join('.') };
}

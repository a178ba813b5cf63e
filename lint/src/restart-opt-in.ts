// The opt-in to a restart on rotation (the sync controller's --restart-on-rotation), checked where it
// appears: its value on a Deployment, StatefulSet or DaemonSet, as the controller reads it; on any
// other kind, or on a pod template, it has no effect, which is never what was meant.
import { parseOptIn, RESTART_ON_ROTATION_ANNOTATION, RESTARTABLE_KINDS, secretsReadBy } from '@sscsi/common';

import type { Severity } from './findings';
import { podSpecOf } from './workloads';

type Data = Record<string, unknown>;
const isMap = (v: unknown): v is Data => !!v && typeof v === 'object' && !Array.isArray(v);

export interface OptInFinding {
  field: string;
  message: string;
  severity: Severity;
}

/** What a restart on rotation could follow for a workload, from the files checked. */
export interface Rotating {
  /** The name of the secrets-store CSI driver: a volume of it mounts objects that rotate. */
  csiDriver: string;
  /** `namespace/name` of each Secret a class's secretObjects or a SecretSync writes. */
  syncedSecrets: ReadonlySet<string>;
}

const FIELD = `annotations.${RESTART_ON_ROTATION_ANNOTATION}`;
const WHERE = `it belongs on a Deployment's, StatefulSet's or DaemonSet's own metadata.annotations`;

function annotationOf(metadata: unknown): unknown {
  return isMap(metadata) && isMap(metadata.annotations)
    ? metadata.annotations[RESTART_ON_ROTATION_ANNOTATION]
    : undefined;
}

function mountsDriver(spec: Data, csiDriver: string): boolean {
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  return volumes.some((v: unknown) => isMap(v) && isMap(v.csi) && v.csi.driver === csiDriver);
}

/** The findings for the opt-in annotation of one object of any kind. */
export function checkRestartOptIn(object: Data, namespace: string, rotating: Rotating): OptInFinding[] {
  const findings: OptInFinding[] = [];
  const kind = typeof object.kind === 'string' ? object.kind : 'object';
  const at = podSpecOf(object);
  // The pod template's metadata: beside its spec (a Pod is its own template).
  const templatePath = at?.path.replace(/\.?spec$/, '') ?? '';
  const template = templatePath
    ? templatePath.split('.').reduce<unknown>((v, step) => (isMap(v) ? v[step] : undefined), object)
    : undefined;
  if (templatePath && annotationOf(isMap(template) ? template.metadata : undefined) !== undefined)
    findings.push({
      field: `${templatePath}.metadata.${FIELD}`,
      message: `has no effect on a pod template: ${WHERE}`,
      severity: 'warning',
    });

  const value = annotationOf(object.metadata);
  if (value === undefined) return findings;
  const field = `metadata.${FIELD}`;
  if (!RESTARTABLE_KINDS.includes(kind)) {
    findings.push({
      field,
      message: `has no effect on a ${kind}: only a Deployment, StatefulSet or DaemonSet is restarted on rotation; ${WHERE}`,
      severity: 'warning',
    });
    return findings;
  }
  if (typeof value !== 'string') {
    findings.push({
      field,
      message: `must be a string, got ${value === null ? 'null' : typeof value} (quote it in YAML: "true"); the API server refuses anything else`,
      severity: 'error',
    });
    return findings;
  }
  const optIn = parseOptIn({ [RESTART_ON_ROTATION_ANNOTATION]: value });
  if (optIn.kind === 'invalid') findings.push({ field, message: optIn.message, severity: 'error' });
  if (optIn.kind !== 'on' || !at) return findings;
  const reads = secretsReadBy(at.spec).some((n) => rotating.syncedSecrets.has(`${namespace}/${n}`));
  if (!mountsDriver(at.spec, rotating.csiDriver) && !reads)
    findings.push({
      field,
      message: `the pod template neither mounts a ${rotating.csiDriver} volume nor reads a Secret that a SecretProviderClass's secretObjects or a SecretSync in the files checked writes: nothing it uses rotates, so it is never restarted`,
      severity: 'warning',
    });
  return findings;
}

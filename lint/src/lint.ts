// The checks: every SecretProviderClass and every workload that mounts one through the driver, as a
// mount would check them. The messages are the driver's and the provider's own: each check calls
// the parser the mount calls (driver: class spec, publish request, secretObjects; provider client:
// the provider name; AWS provider: the whole Mount request with its objects).
import type { SecretObject } from '@sscsi/common';
import { checkProviderName } from '@sscsi/common';
import crypto from 'node:crypto';
import {
  buildSecretContent,
  parsePublishRequest,
  providerOfClass,
  volumeOwnership,
} from 'secrets-store-csi-driver/validation';

import { AWS_PROVIDER, checkAwsMount } from './aws-provider';
import type { ManifestDocument } from './documents';
import type { Finding, Severity } from './findings';
import { checkRestartOptIn } from './restart-opt-in';
import { podSpecOf } from './workloads';

export const CLASS_GROUP = 'secrets-store.csi.x-k8s.io';
/** The versions the driver chart's CRD serves. */
const CLASS_VERSIONS = ['v1', 'v1alpha1'];
export const CSI_DRIVER = 'secrets-store.csi.k8s.io';
/** The sync controller's SecretSync: it writes the Secret of its own name. */
const SECRET_SYNC_GROUP = 'secret-sync.x-k8s.io';

type Data = Record<string, unknown>;

const isMap = (v: unknown): v is Data => !!v && typeof v === 'object' && !Array.isArray(v);
const namespaceOf = (o: Data) => {
  const ns = isMap(o.metadata) ? o.metadata.namespace : undefined;
  return typeof ns === 'string' && ns !== '' ? ns : 'default';
};
const nameOf = (o: Data) => {
  const name = isMap(o.metadata) ? o.metadata.name : undefined;
  return typeof name === 'string' ? name : '';
};

/** A class as the checks of the pods that use it need it. */
interface CheckedClass {
  provider: string | undefined;
  parameters: Record<string, string>;
  /** Whether the class alone passes the provider's checks (a pod's attributes are then checked too). */
  accepted: boolean;
}

class Report {
  readonly findings: Finding[] = [];
  constructor(private readonly doc: ManifestDocument) {}
  add(field: string, message: string, severity: Severity = 'error'): void {
    this.findings.push({ file: this.doc.file, document: this.doc.document, field, message, severity });
  }
}

/** A string map as the API server takes it (CRD map[string]string, volumeAttributes). */
function stringMap(value: unknown, field: string, report: Report): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isMap(value)) {
    report.add(field, 'must be a map of strings');
    return {};
  }
  const map: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'string') map[key] = v;
    else
      report.add(
        `${field}.${key}`,
        `must be a string, got ${v === null ? 'null' : typeof v} (quote it in YAML); the API server refuses anything else`,
      );
  }
  return map;
}

function checkClass(doc: ManifestDocument, report: Report): CheckedClass {
  const o = doc.object;
  const unusable: CheckedClass = { provider: undefined, parameters: {}, accepted: false };
  const [group, version] = String(o.apiVersion ?? '').split('/');
  if (group !== CLASS_GROUP || !CLASS_VERSIONS.includes(version ?? '')) {
    report.add(
      'apiVersion',
      `must be ${CLASS_GROUP}/v1 (or the deprecated v1alpha1), got ${JSON.stringify(o.apiVersion)}`,
    );
  }
  const namespace = namespaceOf(o);
  const name = nameOf(o);
  if (!name) report.add('metadata.name', 'is missing');
  if (!isMap(o.spec)) {
    report.add('spec', 'is missing');
    return unusable;
  }
  const spec = o.spec;
  const parameters = stringMap(spec.parameters, 'spec.parameters', report);
  let provider: string;
  try {
    provider = providerOfClass(spec, namespace, name);
    checkProviderName(provider);
  } catch (err) {
    const message = (err as Error).message;
    report.add(message.endsWith('spec.parameters') ? 'spec.parameters' : 'spec.provider', message);
    return {
      ...unusable,
      provider: typeof spec.provider === 'string' ? spec.provider : undefined,
      parameters,
    };
  }
  let fileNames: ReadonlySet<string> | undefined;
  let optionalFiles: ReadonlyMap<string, string> = new Map();
  let directories: ReadonlySet<string> | undefined;
  let accepted = true;
  try {
    // The driver refuses these before it asks any provider: its message, once.
    volumeOwnership(parameters, {}, undefined, `${namespace}/${name}`);
  } catch (err) {
    report.add('spec.parameters', (err as Error).message);
    accepted = false;
  }
  if (provider === AWS_PROVIDER && accepted) {
    const aws = checkAwsMount(parameters, { name: 'lint', namespace, serviceAccount: 'default' });
    for (const w of aws.warnings) report.add('spec.parameters', w, 'warning');
    if (aws.error) report.add('spec.parameters', aws.error);
    accepted = !aws.error;
    fileNames = aws.fileNames;
    optionalFiles = aws.optionalFiles;
    directories = aws.directories;
  }
  checkSecretObjects(spec.secretObjects, fileNames, optionalFiles, directories, report);
  return { provider, parameters, accepted };
}

let standIn: Buffer | undefined;

/**
 * What a file of the mount holds, as far as the checks can know: a certificate block and a private
 * key, so that a kubernetes.io/tls Secret builds (its real content is known only at mount time). The
 * key is made here, for this run only.
 */
function standInContent(): Buffer {
  if (!standIn) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const key = privateKey.export({ format: 'pem', type: 'sec1' }).toString();
    standIn = Buffer.from(`-----BEGIN CERTIFICATE-----\nbGludA==\n-----END CERTIFICATE-----\n${key}`);
  }
  return standIn;
}

/**
 * The driver's own build of each synced Secret, on stand-in file contents. With the AWS provider the
 * mount's file names are known, so a data entry naming a file no object writes is refused here as
 * it would be at sync time.
 */
function checkSecretObjects(
  value: unknown,
  fileNames: ReadonlySet<string> | undefined,
  optionalFiles: ReadonlyMap<string, string>,
  directories: ReadonlySet<string> | undefined,
  report: Report,
): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) {
    report.add('spec.secretObjects', 'must be a list');
    return;
  }
  value.forEach((entry: unknown, i) => {
    const field = `spec.secretObjects[${i}]`;
    if (!isMap(entry)) {
      report.add(field, 'must be a mapping');
      return;
    }
    const optionalRead = new Set<string>();
    const readFile = (relativePath: string): Buffer => {
      // A file in a directory of many files is known only at mount time: its name is enough.
      const inDirectory = [...(directories ?? [])].some((d) => relativePath.startsWith(`${d}/`));
      if (fileNames && !fileNames.has(relativePath) && !inDirectory) {
        const written = [
          ...[...fileNames].map((n) => JSON.stringify(n)),
          ...[...(directories ?? [])].map((d) => `files in ${JSON.stringify(`${d}/`)}`),
        ].join(', ');
        throw new Error(`the class's objects write ${written || 'no file'}`);
      }
      if (optionalFiles.has(relativePath)) optionalRead.add(relativePath);
      return standInContent();
    };
    try {
      buildSecretContent(entry as unknown as SecretObject, readFile);
    } catch (err) {
      report.add(field, (err as Error).message);
      return;
    }
    // The driver syncs a Secret from the files of the mount: none while an optional object is missing.
    for (const file of optionalRead)
      report.add(
        field,
        `file ${JSON.stringify(file)} comes from optional object ${JSON.stringify(optionalFiles.get(file))}: while that object is missing the file is absent and this Secret is not synced`,
        'warning',
      );
  });
}

function checkWorkload(
  doc: ManifestDocument,
  classes: ReadonlyMap<string, CheckedClass>,
  report: Report,
): void {
  const at = podSpecOf(doc.object);
  if (!at || !Array.isArray(at.spec.volumes)) return;
  const namespace = namespaceOf(doc.object);
  const podName = nameOf(doc.object) || 'lint';
  const serviceAccount =
    typeof at.spec.serviceAccountName === 'string' && at.spec.serviceAccountName
      ? at.spec.serviceAccountName
      : 'default';
  at.spec.volumes.forEach((volume: unknown, i) => {
    if (!isMap(volume) || !isMap(volume.csi) || volume.csi.driver !== CSI_DRIVER) return;
    const field = `${at.path}.volumes[${i}].csi`;
    const attributes = stringMap(volume.csi.volumeAttributes, `${field}.volumeAttributes`, report);
    const podInfo = {
      'csi.storage.k8s.io/pod.name': podName,
      'csi.storage.k8s.io/pod.namespace': namespace,
      'csi.storage.k8s.io/pod.uid': 'lint',
      'csi.storage.k8s.io/serviceAccount.name': serviceAccount,
    };
    try {
      // What the kubelet sends for this volume: readonly from the volume's csi.readOnly.
      parsePublishRequest({
        volumeId: 'lint',
        publishContext: {},
        stagingTargetPath: '',
        secrets: {},
        targetPath: '/var/lib/kubelet/pods/lint/volumes/kubernetes.io~csi/lint/mount',
        volumeCapability: {
          mount: { fsType: '', mountFlags: [], volumeMountGroup: '' },
          accessMode: { mode: 'SINGLE_NODE_READER_ONLY' },
          accessType: 'mount',
        },
        readonly: volume.csi.readOnly === true,
        volumeContext: { ...attributes, ...podInfo },
      });
    } catch (err) {
      report.add(field, (err as Error).message);
      return;
    }
    const className = attributes.secretProviderClass as string;
    const spc = classes.get(`${namespace}/${className}`);
    if (!spc) {
      const elsewhere = [...classes.keys()]
        .filter((k) => k.endsWith(`/${className}`))
        .map((k) => k.split('/')[0]);
      report.add(
        `${field}.volumeAttributes.secretProviderClass`,
        `SecretProviderClass "${className}" is not in the files checked for namespace "${namespace}": the mount fails unless the cluster has it` +
          (elsewhere.length > 0
            ? ` (the files have one in namespace ${elsewhere.map((n) => `"${n}"`).join(', ')}; a pod can only use a class of its own namespace)`
            : ''),
        'warning',
      );
      return;
    }
    // A class already refused for them says so once, at the class.
    if (spc.accepted) {
      try {
        volumeOwnership(spc.parameters, attributes, undefined, `${namespace}/${className}`);
      } catch (err) {
        report.add(`${field}.volumeAttributes`, (err as Error).message);
        return;
      }
    }
    // The pod's attributes override the class's parameters: check what the provider gets then.
    const overrides = Object.keys(attributes).filter((k) => k !== 'secretProviderClass');
    if (spc.provider === AWS_PROVIDER && spc.accepted && overrides.length > 0) {
      const aws = checkAwsMount(
        { ...spc.parameters, ...attributes },
        { name: podName, namespace, serviceAccount },
      );
      if (aws.error) report.add(`${field}.volumeAttributes`, aws.error);
    }
  });
}

/** `namespace/name` of each Secret the files sync: a class's secretObjects, a SecretSync's own name. */
function syncedSecrets(documents: readonly ManifestDocument[]): Set<string> {
  const names = new Set<string>();
  for (const { object } of documents) {
    const namespace = namespaceOf(object);
    if (object.kind === 'SecretSync' && String(object.apiVersion ?? '').startsWith(`${SECRET_SYNC_GROUP}/`))
      names.add(`${namespace}/${nameOf(object)}`);
    if (object.kind !== 'SecretProviderClass' || !isMap(object.spec)) continue;
    const entries: unknown[] = Array.isArray(object.spec.secretObjects) ? object.spec.secretObjects : [];
    for (const e of entries)
      if (isMap(e) && typeof e.secretName === 'string') names.add(`${namespace}/${e.secretName}`);
  }
  return names;
}

/** Every finding for the documents of every file, classes first (pods refer to them across files). */
export function lintDocuments(documents: readonly ManifestDocument[]): Finding[] {
  const findings: Finding[] = [];
  const classes = new Map<string, CheckedClass>();
  for (const doc of documents) {
    if (doc.object.kind !== 'SecretProviderClass') continue;
    const report = new Report(doc);
    classes.set(`${namespaceOf(doc.object)}/${nameOf(doc.object)}`, checkClass(doc, report));
    findings.push(...report.findings);
  }
  const rotating = { csiDriver: CSI_DRIVER, syncedSecrets: syncedSecrets(documents) };
  for (const doc of documents) {
    if (doc.object.kind === 'SecretProviderClass') continue;
    const report = new Report(doc);
    checkWorkload(doc, classes, report);
    for (const f of checkRestartOptIn(doc.object, namespaceOf(doc.object), rotating))
      report.add(f.field, f.message, f.severity);
    findings.push(...report.findings);
  }
  return findings;
}

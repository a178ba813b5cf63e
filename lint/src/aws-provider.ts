// The AWS provider's own parse of a mount, run on what a mount of the class would send it: the
// class's parameters overlaid with the pod's volume attributes and the pod information the kubelet
// adds. The request is built here; every check and message is the provider's.
import type { MountRequest__Output } from '@sscsi/proto';
import {
  Attr,
  IRSA_AUDIENCE,
  objectLabel,
  parseDescriptors,
  parseMountRequest,
  parseTemplates,
  POD_IDENTITY_AUDIENCE,
} from 'secrets-store-csi-driver-provider-aws/validation';

export const AWS_PROVIDER = 'aws';

export interface AwsMountCheck {
  /** The provider's refusal, when it refuses. */
  error: string | undefined;
  warnings: readonly string[];
  /** The files a mount writes (relative to the mount), when the provider accepts the class. */
  fileNames: ReadonlySet<string> | undefined;
  /** The files of optional objects (absent while the object is missing), with the object's name. */
  optionalFiles: ReadonlyMap<string, string>;
  /**
   * Directories whose files are known only at mount time: an object written as many files (its
   * JSON keys, the parameters under a path, the secrets a prefix or tags select).
   */
  directories: ReadonlySet<string> | undefined;
}

/** What the kubelet adds about the pod; stand-ins, since the provider only checks they are there. */
export interface PodInfo {
  name: string;
  namespace: string;
  serviceAccount: string;
}

export function checkAwsMount(attributes: Readonly<Record<string, string>>, pod: PodInfo): AwsMountCheck {
  // Tokens for both audiences: whether the cluster mints them is the CSIDriver object's business,
  // not the manifests'.
  const tokens = JSON.stringify({
    [IRSA_AUDIENCE]: { token: 'lint', expirationTimestamp: '' },
    [POD_IDENTITY_AUDIENCE]: { token: 'lint', expirationTimestamp: '' },
  });
  const request: MountRequest__Output = {
    attributes: JSON.stringify({
      ...attributes,
      [Attr.podName]: pod.name,
      [Attr.podNamespace]: pod.namespace,
      [Attr.serviceAccountName]: pod.serviceAccount,
      [Attr.serviceAccountTokens]: tokens,
    }),
    secrets: 'null',
    targetPath: '/var/lib/kubelet/pods/lint/volumes/kubernetes.io~csi/lint/mount',
    permission: String(0o644),
    currentObjectVersion: [],
  };
  try {
    const input = parseMountRequest(request);
    const fileNames = new Set<string>();
    const optionalFiles = new Map<string, string>();
    const directories = new Set<string>();
    const optionalDirectories = new Map<string, string>();
    const descriptors = parseDescriptors(input, input.region);
    for (const d of descriptors) {
      const files = [...(d.writesFile ? [d.fileName] : []), ...d.jmesPath.map((j) => j.fileName)];
      for (const f of files) {
        fileNames.add(f);
        if (d.optional) optionalFiles.set(f, d.objectName);
      }
      if (d.tree) directories.add(d.fileName);
      if (d.tree && d.optional)
        optionalDirectories.set(
          d.fileName,
          d.tree.kind === 'secretsSelected'
            ? `${objectLabel(d)} (an optional entry)`
            : `optional object ${JSON.stringify(d.objectName)}`,
        );
    }
    const warnings = [...input.warnings];
    for (const t of parseTemplates(input, descriptors)) {
      fileNames.add(t.fileName);
      // The provider fails a mount whose templated file names a file that is absent.
      for (const name of t.names) {
        const dir = [...optionalDirectories.keys()].find((dir) => name.startsWith(`${dir}/`));
        const from = optionalFiles.has(name)
          ? `optional object ${JSON.stringify(optionalFiles.get(name))}`
          : dir !== undefined
            ? optionalDirectories.get(dir)
            : undefined;
        if (from !== undefined)
          warnings.push(
            `templated file ${JSON.stringify(t.fileName)}: {{${name}}} comes from ${from}: while it is missing the mount fails`,
          );
      }
    }
    return { error: undefined, warnings, fileNames, optionalFiles, directories };
  } catch (err) {
    return {
      error: (err as Error).message,
      warnings: [],
      fileNames: undefined,
      optionalFiles: new Map(),
      directories: undefined,
    };
  }
}

// A Mount request from the driver, parsed into typed values: the pod, its tokens, the regions, the
// identity mode and the object descriptors. Everything here runs before any network call.
import type { MountRequest__Output } from '@sscsi/proto';
import path from 'node:path';

import { invalidParameters, MountError } from '../errors';
import type { ObjectDescriptor } from './descriptors';
import { parseObjects, parsePathTranslation } from './descriptors';

export const Attr = {
  podName: 'csi.storage.k8s.io/pod.name',
  podNamespace: 'csi.storage.k8s.io/pod.namespace',
  serviceAccountName: 'csi.storage.k8s.io/serviceAccount.name',
  serviceAccountTokens: 'csi.storage.k8s.io/serviceAccount.tokens',
  objects: 'objects',
  region: 'region',
  failoverRegion: 'failoverRegion',
  pathTranslation: 'pathTranslation',
  usePodIdentity: 'usePodIdentity',
  preferredAddressType: 'preferredAddressType',
} as const;

export const IRSA_AUDIENCE = 'sts.amazonaws.com';
export const POD_IDENTITY_AUDIENCE = 'pods.eks.amazonaws.com';

export type AddressType = 'ipv4' | 'ipv6' | 'auto';

export interface MountInput {
  pod: { namespace: string; name: string; serviceAccount: string };
  targetPath: string;
  /** Mode for files whose object sets no filePermission. */
  defaultMode: number;
  /** The region from the class, or undefined to look it up (provider env, then node label). */
  region: string | undefined;
  failoverRegion: string | undefined;
  pathTranslation: string;
  usePodIdentity: boolean;
  preferredAddressType: AddressType;
  /** The raw `objects` text; parsed once the region is known (ARNs are checked against it). */
  objects: string | undefined;
  /** Tokens by audience, as the kubelet minted them for this pod. */
  tokens: ReadonlyMap<string, string>;
  /** Versions of the files currently mounted, by file name. */
  currentVersions: ReadonlyMap<string, string>;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

function parseAttributes(text: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MountError('InvalidMountRequest', 'attributes are not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new MountError('InvalidMountRequest', 'attributes must be a JSON object');
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      throw new MountError('InvalidMountRequest', `attribute ${JSON.stringify(k)} must be a string`);
  }
  return value as Record<string, string>;
}

/** The tokens JSON the driver passes: `{"<audience>": {"token": "...", "expirationTimestamp": "..."}}`. */
function parseTokens(text: string | undefined): Map<string, string> {
  const tokens = new Map<string, string>();
  if (!text) return tokens;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MountError('InvalidMountRequest', `${Attr.serviceAccountTokens} is not valid JSON`);
  }
  if (!value || typeof value !== 'object')
    throw new MountError('InvalidMountRequest', `${Attr.serviceAccountTokens} must be a JSON object`);
  for (const [audience, entry] of Object.entries(value as Record<string, unknown>)) {
    const token = (entry as { token?: unknown } | null)?.token;
    if (typeof token === 'string' && token !== '') tokens.set(audience, token);
  }
  return tokens;
}

function parseBool(raw: string | undefined, name: string): boolean {
  if (raw === undefined || raw === '') return false;
  if (/^(1|t|true)$/i.test(raw)) return true;
  if (/^(0|f|false)$/i.test(raw)) return false;
  throw invalidParameters(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

function parseRegion(raw: string | undefined, name: string): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!REGION.test(raw))
    throw invalidParameters(`${name} ${JSON.stringify(raw)} is not an AWS region name such as us-east-1`);
  return raw;
}

export function parseMountRequest(req: MountRequest__Output): MountInput {
  if (!req.targetPath) throw new MountError('InvalidMountRequest', 'target path missing in request');
  if (!path.isAbsolute(req.targetPath))
    throw new MountError('InvalidMountRequest', 'target path must be absolute');
  const attributes = parseAttributes(req.attributes);
  const defaultMode = Number(req.permission);
  if (!/^\d+$/.test(req.permission) || defaultMode > 0o777) {
    throw new MountError(
      'InvalidMountRequest',
      `permission must be a decimal file mode (0..511), got ${JSON.stringify(req.permission)}`,
    );
  }
  const namespace = attributes[Attr.podNamespace];
  const name = attributes[Attr.podName];
  const serviceAccount = attributes[Attr.serviceAccountName];
  if (!namespace || !name || !serviceAccount) {
    throw new MountError(
      'InvalidMountRequest',
      'pod name, namespace or service account missing from the attributes: the CSIDriver object needs podInfoOnMount: true',
    );
  }
  const region = parseRegion(attributes[Attr.region], 'region');
  const failoverRegion = parseRegion(attributes[Attr.failoverRegion], 'failoverRegion');
  if (failoverRegion && failoverRegion === region) {
    throw invalidParameters(`failoverRegion must differ from region (both are ${region})`);
  }
  const addressType = (attributes[Attr.preferredAddressType] ?? 'auto').toLowerCase() || 'auto';
  if (addressType !== 'ipv4' && addressType !== 'ipv6' && addressType !== 'auto') {
    throw invalidParameters(
      `preferredAddressType must be ipv4, ipv6 or auto, got ${JSON.stringify(attributes[Attr.preferredAddressType])}`,
    );
  }
  const input: MountInput = {
    pod: { namespace, name, serviceAccount },
    targetPath: req.targetPath,
    defaultMode,
    region,
    failoverRegion,
    pathTranslation: parsePathTranslation(attributes[Attr.pathTranslation]),
    usePodIdentity: parseBool(attributes[Attr.usePodIdentity], 'usePodIdentity'),
    preferredAddressType: addressType,
    objects: attributes[Attr.objects],
    tokens: parseTokens(attributes[Attr.serviceAccountTokens]),
    currentVersions: new Map(req.currentObjectVersion.map((v) => [v.id, v.version])),
  };
  // Everything is checked before any call: the objects (their ARNs' regions again once a region
  // looked up is known) and the token the identity mode needs.
  parseDescriptors(input, region);
  tokenFor(input, input.usePodIdentity ? POD_IDENTITY_AUDIENCE : IRSA_AUDIENCE);
  return input;
}

export function parseDescriptors(input: MountInput, region: string | undefined): ObjectDescriptor[] {
  if (region !== undefined && input.failoverRegion === region) {
    throw invalidParameters(`failoverRegion must differ from region (both are ${region})`);
  }
  return parseObjects(input.objects, {
    pathTranslation: input.pathTranslation,
    region,
    failoverRegion: input.failoverRegion,
  });
}

/** The pod's token for `audience`, or a MountError that says how to get one. */
export function tokenFor(input: MountInput, audience: string): string {
  const token = input.tokens.get(audience);
  if (token) return token;
  throw new MountError(
    'MissingToken',
    `no service account token for audience "${audience}" in the mount request: the CSIDriver object secrets-store.csi.k8s.io needs tokenRequests with audience "${audience}" (the driver chart's default tokenRequests has it)`,
  );
}

// A Mount request, parsed into typed values: the pod, its tokens, who the request is for (a pod's
// volume, from the CSI driver, or a SecretSync's ServiceAccount, from the sync controller), the
// regions, the identity mode and the object descriptors. Everything here runs before any network
// call.
import { defaultFileModeOf, fileGroupOf, FileOwnershipError } from '@sscsi/common';
import type { MountRequest__Output } from '@sscsi/proto';
import path from 'node:path';

import type { Requester } from '../credentials/requester';
import { requesterOf } from '../credentials/requester';
import { invalidParameters, MountError } from '../errors';
import type { AssumeRoleTarget } from './assume-role';
import { parseAssumeRole } from './assume-role';
import type { ObjectDescriptor } from './descriptors';
import { parseObjects } from './descriptors';
import { parsePathTranslation } from './file-names';
import type { TemplatedFile } from './templated-files';
import { parseTemplatedFiles, TEMPLATED_FILES } from './templated-files';

export const Attr = {
  podName: 'csi.storage.k8s.io/pod.name',
  podNamespace: 'csi.storage.k8s.io/pod.namespace',
  podUid: 'csi.storage.k8s.io/pod.uid',
  secretProviderClass: 'secretProviderClass',
  serviceAccountName: 'csi.storage.k8s.io/serviceAccount.name',
  serviceAccountTokens: 'csi.storage.k8s.io/serviceAccount.tokens',
  objects: 'objects',
  region: 'region',
  failoverRegion: 'failoverRegion',
  pathTranslation: 'pathTranslation',
  usePodIdentity: 'usePodIdentity',
  preferredAddressType: 'preferredAddressType',
  templatedFiles: TEMPLATED_FILES,
} as const;

export const IRSA_AUDIENCE = 'sts.amazonaws.com';
export const POD_IDENTITY_AUDIENCE = 'pods.eks.amazonaws.com';

export type AddressType = 'ipv4' | 'ipv6' | 'auto';

export interface MountInput {
  /**
   * The pod the request names. For the sync controller, name and uid are the controller's own pod;
   * namespace and serviceAccount are the SecretSync's.
   */
  pod: { namespace: string; name: string; serviceAccount: string; uid: string | undefined };
  /**
   * Who the request is for, told by the token of the identity mode (requester.ts): a pod's volume
   * (the CSI driver) or a SecretSync's ServiceAccount (the sync controller).
   */
  requester: Requester;
  /** The SecretProviderClass's name, when the driver passes it (the pod's volumeAttributes). */
  secretProviderClass: string | undefined;
  targetPath: string;
  /** Mode for files whose object sets no filePermission: defaultFilePermission, else the driver's. */
  defaultMode: number;
  /**
   * The group that owns the files when the provider writes them itself (fileGroup: our driver
   * sets it from the pod's fsGroup too); undefined leaves them to root's group.
   */
  fileGroup: number | undefined;
  /**
   * The region from the class, or undefined: then the provider's AWS_REGION, else (a pod's
   * request only) its node's label.
   */
  region: string | undefined;
  failoverRegion: string | undefined;
  pathTranslation: string;
  usePodIdentity: boolean;
  preferredAddressType: AddressType;
  /** The role the pod's own credentials are chained into (assumeRoleArn), if the class names one. */
  assumeRole: AssumeRoleTarget | undefined;
  /** The raw `objects` text; parsed once the region is known (ARNs are checked against it). */
  objects: string | undefined;
  /** The raw `templatedFiles` text; parsed with the objects, whose files it names. */
  templatedFiles: string | undefined;
  /** Tokens by audience: the kubelet's for the pod, or the sync controller's for the ServiceAccount. */
  tokens: ReadonlyMap<string, string>;
  /** Versions of the files currently mounted, by file name. */
  currentVersions: ReadonlyMap<string, string>;
  /** What upstream accepts but probably is not what the class's author meant: for the pod's events. */
  warnings: readonly string[];
}

/** What AWS region names look like (us-east-1, us-gov-west-1, eusc-de-east-1, ...). */
const AWS_REGION = /^[a-z]{2,}(-[a-z]+)+-\d{1,2}$/;
/** What every AWS SDK needs: the region is a label of the endpoint's host name. */
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

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

/**
 * Any region an AWS SDK can call is accepted, as upstream does (new partitions, AWS-compatible
 * services with their own region names); one unlike AWS's names gets a warning (a typo such as
 * us-east1 otherwise shows only as a network error). One that cannot be part of a host name
 * fails in every SDK, upstream's too: it is refused here, with the reason.
 */
function parseRegion(raw: string | undefined, name: string, warnings: string[]): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!HOST_LABEL.test(raw)) {
    throw invalidParameters(
      `${name} ${JSON.stringify(raw)} cannot be an AWS region: AWS endpoints take a region of letters, digits and hyphens, such as us-east-1`,
    );
  }
  if (!AWS_REGION.test(raw))
    warnings.push(`${name} ${JSON.stringify(raw)} does not look like an AWS region name such as us-east-1`);
  return raw;
}

export function parseMountRequest(req: MountRequest__Output): MountInput {
  if (!req.targetPath) throw new MountError('InvalidMountRequest', 'target path missing in request');
  if (!path.isAbsolute(req.targetPath))
    throw new MountError('InvalidMountRequest', 'target path must be absolute');
  const attributes = parseAttributes(req.attributes);
  const permission = Number(req.permission);
  if (!/^\d+$/.test(req.permission) || permission > 0o777) {
    throw new MountError(
      'InvalidMountRequest',
      `permission must be a decimal file mode (0..511), got ${JSON.stringify(req.permission)}`,
    );
  }
  const { fileGroup, defaultMode } = fileOwnership(attributes, permission);
  const namespace = attributes[Attr.podNamespace];
  const name = attributes[Attr.podName];
  const serviceAccount = attributes[Attr.serviceAccountName];
  if (!namespace || !name || !serviceAccount) {
    throw new MountError(
      'InvalidMountRequest',
      'pod name, namespace or service account missing from the attributes: the CSIDriver object needs podInfoOnMount: true',
    );
  }
  const warnings: string[] = [];
  const region = parseRegion(attributes[Attr.region], 'region', warnings);
  const failoverRegion = parseRegion(attributes[Attr.failoverRegion], 'failoverRegion', warnings);
  if (failoverRegion && failoverRegion === region) {
    throw invalidParameters(`failoverRegion must differ from region (both are ${region})`);
  }
  // Parsed in the order of the fields below: of several faults, the first is reported.
  const pathTranslation = parsePathTranslation(attributes[Attr.pathTranslation]);
  const usePodIdentity = parseBool(attributes[Attr.usePodIdentity], 'usePodIdentity');
  const preferredAddressType = parseAddressType(attributes[Attr.preferredAddressType], warnings);
  const assumeRole = parseAssumeRole(attributes);
  const tokens = parseTokens(attributes[Attr.serviceAccountTokens]);
  const audience = usePodIdentity ? POD_IDENTITY_AUDIENCE : IRSA_AUDIENCE;
  const input: MountInput = {
    pod: { namespace, name, serviceAccount, uid: attributes[Attr.podUid] || undefined },
    requester: requesterOf(tokens.get(audience)),
    secretProviderClass: attributes[Attr.secretProviderClass] || undefined,
    targetPath: req.targetPath,
    defaultMode,
    fileGroup,
    region,
    failoverRegion,
    pathTranslation,
    usePodIdentity,
    preferredAddressType,
    assumeRole,
    objects: attributes[Attr.objects],
    templatedFiles: attributes[Attr.templatedFiles],
    tokens,
    currentVersions: new Map(req.currentObjectVersion.map((v) => [v.id, v.version])),
    warnings,
  };
  // Everything is checked before any call: the objects (their ARNs' regions again once a region
  // looked up is known), the token the identity mode needs, and that the mode can take it.
  parseTemplates(input, parseDescriptors(input, region, warnings), warnings);
  tokenFor(input, audience);
  if (usePodIdentity && input.requester === 'serviceaccount') throw podIdentityNeedsAPod(input);
  return input;
}

/**
 * EKS Pod Identity serves pods only. EKS Auth (AssumeRoleForPodIdentity, which the node's agent
 * calls) tags the session with the pod's name and uid from the token's `kubernetes.io` pod claim
 * (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html: kubernetes-pod-name,
 * kubernetes-pod-uid); the agent's local token check in development requires that claim
 * (aws/eks-pod-identity-agent, branch cache-enhancements, internal/validation/claims_validation.go,
 * validateKubernetesClaims: "missing claim: kubernetes.io/pod"; v0.1.37 leaves it to EKS Auth); and
 * Flux found EKS refusing tokens bound to no pod (https://github.com/fluxcd/flux2/pull/5309). The sync controller's token is bound to no pod, so
 * it is refused here, before the token goes anywhere, with what works instead.
 */
function podIdentityNeedsAPod(input: MountInput): MountError {
  const sa = `${input.pod.namespace}/${input.pod.serviceAccount}`;
  return invalidParameters(
    `usePodIdentity: EKS Pod Identity gives credentials only for a token bound to a pod, and this request's token for ServiceAccount ${sa} is bound to none (a SecretSync's token from the sync controller): use IRSA for SecretSyncs, i.e. annotate ServiceAccount ${sa} with eks.amazonaws.com/role-arn, leave usePodIdentity unset in the SecretProviderClass, and give the sync controller the audience sts.amazonaws.com (--token-request-audience, chart value tokenRequestAudience)`,
  );
}

/**
 * fileGroup and defaultFilePermission, read here as well as by our driver: under upstream's driver
 * (which knows neither) a class's defaultFilePermission still applies when this provider writes the
 * files; its fileGroup only where the volume already belongs to that group (see mount.ts).
 */
function fileOwnership(
  attributes: Record<string, string>,
  permission: number,
): { fileGroup: number | undefined; defaultMode: number } {
  try {
    return { fileGroup: fileGroupOf(attributes), defaultMode: defaultFileModeOf(attributes) ?? permission };
  } catch (err) {
    if (err instanceof FileOwnershipError) throw invalidParameters(err.message);
    throw err;
  }
}

/** Upstream takes anything but ipv4 and ipv6 (in any case) for auto. */
function parseAddressType(raw: string | undefined, warnings: string[]): AddressType {
  const value = (raw ?? '').toLowerCase();
  if (value === 'ipv4' || value === 'ipv6' || value === 'auto') return value;
  if (value !== '') {
    warnings.push(
      `preferredAddressType ${JSON.stringify(raw)} is not ipv4, ipv6 or auto; auto is used (IPv4 first, then IPv6)`,
    );
  }
  return 'auto';
}

/**
 * The object descriptors, checked against `region` (ARNs must be in it). Warnings go to
 * `warnings` when given: parseMountRequest collects them once; later parses need not.
 */
export function parseDescriptors(
  input: MountInput,
  region: string | undefined,
  warnings?: string[],
): ObjectDescriptor[] {
  if (region !== undefined && input.failoverRegion === region) {
    throw invalidParameters(`failoverRegion must differ from region (both are ${region})`);
  }
  return parseObjects(input.objects, {
    pathTranslation: input.pathTranslation,
    region,
    failoverRegion: input.failoverRegion,
    warnings,
  });
}

/** The templated files, checked against the files the objects write. */
export function parseTemplates(
  input: MountInput,
  descriptors: readonly ObjectDescriptor[],
  warnings?: string[],
): TemplatedFile[] {
  return parseTemplatedFiles(input.templatedFiles, descriptors, input.pathTranslation, warnings);
}

/**
 * The request's token for `audience`, or a MountError that says how to get one. The request itself
 * cannot say who forgot it (the driver's CSIDriver object or the sync controller): both are named.
 */
export function tokenFor(input: MountInput, audience: string): string {
  const token = input.tokens.get(audience);
  if (token) return token;
  throw new MountError(
    'MissingToken',
    `no service account token for audience "${audience}" in the mount request: the CSIDriver object secrets-store.csi.k8s.io needs tokenRequests with audience "${audience}" (the driver chart's default tokenRequests has it); for a SecretSync, the sync controller needs --token-request-audience=${audience} (its chart's value tokenRequestAudience)`,
  );
}

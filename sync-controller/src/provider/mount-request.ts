// The Mount request a SecretSync makes, exactly as upstream sends it: the class's parameters with
// the attributes the CSI driver would add for a pod (this controller's own pod, the SecretSync's
// namespace and ServiceAccount, the ServiceAccount's tokens), as Go JSON; no node-publish secrets;
// a target path nothing is mounted at; no current object versions.
import type { MountCall } from '@sscsi/common';

import { goStringMap } from '../sync/go-json';
import { TOKENS_ATTRIBUTE } from '../tokens/service-account-tokens';

export const POD_NAME_ATTRIBUTE = 'csi.storage.k8s.io/pod.name';
export const POD_UID_ATTRIBUTE = 'csi.storage.k8s.io/pod.uid';
export const POD_NAMESPACE_ATTRIBUTE = 'csi.storage.k8s.io/pod.namespace';
export const SERVICE_ACCOUNT_ATTRIBUTE = 'csi.storage.k8s.io/serviceAccount.name';
/** A constant: providers that write files themselves would write here, and nothing reads it. */
export const TARGET_PATH = '/mnt/secrets-store';
/** 0644 as JSON, as the driver sends its file permission. */
export const PERMISSION = '420';

export interface MountRequestInput {
  /** The class's spec.parameters; a class without them counts as none (upstream panics: its bug B5). */
  parameters: Readonly<Record<string, string>> | null | undefined;
  /** This controller's pod (SYNC_CONTROLLER_POD_NAME and _UID), `""` when unset. */
  pod: { name: string; uid: string };
  namespace: string;
  serviceAccountName: string;
  /** The tokens attribute, when audiences are configured. */
  tokens: string | undefined;
}

/** The attributes, as upstream's Go JSON (keys sorted, HTML characters escaped). */
export function mountAttributes(input: MountRequestInput): string {
  const attributes: Record<string, string> = { ...(input.parameters ?? {}) };
  attributes[POD_NAME_ATTRIBUTE] = input.pod.name;
  attributes[POD_UID_ATTRIBUTE] = input.pod.uid;
  attributes[POD_NAMESPACE_ATTRIBUTE] = input.namespace;
  attributes[SERVICE_ACCOUNT_ATTRIBUTE] = input.serviceAccountName;
  // Without audiences, a tokens key in the class's own parameters passes through, as upstream.
  if (input.tokens !== undefined) attributes[TOKENS_ATTRIBUTE] = input.tokens;
  return goStringMap(attributes);
}

export function mountCall(input: MountRequestInput): MountCall {
  return {
    attributes: mountAttributes(input),
    secrets: '{}',
    targetPath: TARGET_PATH,
    permission: PERMISSION,
    currentObjectVersion: [],
  };
}

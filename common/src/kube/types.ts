// The parts of Kubernetes objects this project reads and writes. Only the fields we use are typed.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface Pod extends KubeObject {
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    volumes?: Array<{
      name: string;
      csi?: { driver: string; readOnly?: boolean; volumeAttributes?: Record<string, string> };
    }>;
    [key: string]: unknown;
  };
  status?: { phase?: string; [key: string]: unknown };
}

export interface ServiceAccount extends KubeObject {
  automountServiceAccountToken?: boolean;
}

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  immutable?: boolean;
}

export interface Node extends KubeObject {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface SecretObjectData {
  objectName: string;
  key: string;
}

export interface SecretObject {
  secretName: string;
  type: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  data?: SecretObjectData[];
}

export interface SecretProviderClass extends KubeObject {
  spec: {
    provider?: string;
    parameters?: Record<string, string>;
    secretObjects?: SecretObject[];
  };
}

export interface SecretProviderClassObject {
  id: string;
  version: string;
}

export interface SecretProviderClassPodStatus extends KubeObject {
  status?: {
    podName?: string;
    secretProviderClassName?: string;
    mounted?: boolean;
    targetPath?: string;
    objects?: SecretProviderClassObject[];
  };
}

export interface TokenRequest {
  apiVersion: 'authentication.k8s.io/v1';
  kind: 'TokenRequest';
  spec: {
    audiences: string[];
    expirationSeconds?: number;
    boundObjectRef?: { apiVersion: string; kind: string; name: string; uid: string };
  };
  status?: { token: string; expirationTimestamp: string };
}

export interface CoreEvent extends KubeObject {
  involvedObject: { apiVersion?: string; kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  source?: { component?: string; host?: string };
  firstTimestamp?: string;
  lastTimestamp?: string;
  count?: number;
  reportingComponent?: string;
  reportingInstance?: string;
}

/** One event of a watch: a change, a bookmark (only its resourceVersion is set), or an error. */
export type WatchEvent<T> =
  { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T } | { type: 'ERROR'; object: ApiStatus };

/** A Kubernetes `Status` body, as returned with API errors. */
export interface ApiStatus {
  kind?: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

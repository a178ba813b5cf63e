// An HTTP request to the lab's AWS endpoint, parsed once into what the gate decides on: which
// service and operation, which region, who signed it, and its parameters. Three wire protocols
// reach the gate: JSON (Secrets Manager, SSM, KMS), query (STS, IAM) and REST-JSON (EKS).
import type { AuthorizationHeader, WireRequest } from './sigv4';
import { parseAuthorization } from './sigv4';

export type Protocol = 'json' | 'query' | 'rest-json';

export interface AwsRequest {
  service: string;
  operation: string;
  /** The credential scope's region; empty for unsigned calls (AssumeRoleWithWebIdentity). */
  region: string;
  protocol: Protocol;
  authorization?: AuthorizationHeader;
  sessionToken?: string;
  /** Form parameters (query), the JSON body (json), or body, query and path labels (rest-json). */
  params: Readonly<Record<string, unknown>>;
  wire: WireRequest;
  sourceIp: string;
}

const TARGET_PREFIXES: Record<string, string> = {
  secretsmanager: 'secretsmanager',
  AmazonSSM: 'ssm',
  TrentService: 'kms',
};

const UNSIGNED_STS = /^AssumeRoleWith(WebIdentity|SAML)$/;

/** The eks operations the gate answers itself or routes by name (REST: method and path). */
function eksOperation(method: string, path: string): { operation: string; labels: Record<string, string> } {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [root, cluster, kind, id] = parts;
  if (root !== 'clusters') return { operation: 'Unknown', labels: {} };
  const labels: Record<string, string> = {};
  if (cluster) labels.clusterName = cluster;
  if (id) labels.associationId = id;
  if (kind === 'pod-identity-associations') {
    if (parts.length === 3)
      return {
        operation: method === 'POST' ? 'CreatePodIdentityAssociation' : 'ListPodIdentityAssociations',
        labels,
      };
    const byMethod: Record<string, string> = {
      GET: 'DescribePodIdentityAssociation',
      DELETE: 'DeletePodIdentityAssociation',
      POST: 'UpdatePodIdentityAssociation',
    };
    return { operation: byMethod[method] ?? 'Unknown', labels };
  }
  if (parts.length === 1) return { operation: method === 'POST' ? 'CreateCluster' : 'ListClusters', labels };
  if (parts.length === 2)
    return { operation: method === 'DELETE' ? 'DeleteCluster' : 'DescribeCluster', labels };
  return { operation: 'Unknown', labels };
}

function jsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function header(wire: WireRequest, name: string): string {
  const value = wire.headers[name];
  return Array.isArray(value) ? value.join(',') : String(value ?? '');
}

export function describeRequest(wire: WireRequest, sourceIp = ''): AwsRequest {
  const authorization = parseAuthorization(header(wire, 'authorization') || undefined);
  const sessionToken = header(wire, 'x-amz-security-token') || undefined;
  const base = { authorization, sessionToken, wire, sourceIp, region: authorization?.region ?? '' };
  const target = header(wire, 'x-amz-target');
  if (target.includes('.')) {
    const [prefix, operation] = target.split('.', 2) as [string, string];
    return {
      ...base,
      service: authorization?.service ?? TARGET_PREFIXES[prefix] ?? prefix.toLowerCase(),
      operation,
      protocol: 'json',
      params: jsonBody(wire.body),
    };
  }
  const contentType = header(wire, 'content-type');
  const queryAt = wire.url.indexOf('?');
  const query = new URLSearchParams(queryAt >= 0 ? wire.url.slice(queryAt + 1) : '');
  if (contentType.startsWith('application/x-www-form-urlencoded') || query.has('Action')) {
    const params = Object.fromEntries([
      ...query.entries(),
      ...new URLSearchParams(wire.body.toString('utf8')).entries(),
    ]);
    const operation = String(params.Action ?? 'Unknown');
    const service = authorization?.service ?? (UNSIGNED_STS.test(operation) ? 'sts' : 'unknown');
    return { ...base, service, operation, protocol: 'query', params };
  }
  const service = authorization?.service ?? 'unknown';
  const path = queryAt >= 0 ? wire.url.slice(0, queryAt) : wire.url;
  const { operation, labels } =
    service === 'eks' ? eksOperation(wire.method, path) : { operation: 'Unknown', labels: {} };
  return {
    ...base,
    service,
    operation,
    protocol: 'rest-json',
    params: { ...Object.fromEntries(query.entries()), ...jsonBody(wire.body), ...labels },
  };
}

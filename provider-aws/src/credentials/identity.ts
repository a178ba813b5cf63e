// The pod's own AWS identity: IRSA (the ServiceAccount's role, assumed with the pod's token for
// sts.amazonaws.com) or EKS Pod Identity (the agent exchanges the pod's pods.eks.amazonaws.com
// token). Credentials are cached per identity; a cached entry serves a pod only after its own
// token has been verified locally, otherwise the pod's token goes to STS or the agent.
import { AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';

import type { AwsClients } from '../aws-clients';
import { classifyAwsError } from '../aws-errors';
import { MountError } from '../errors';
import type { PodLookups } from '../kube-lookups';
import type { ProviderMetrics } from '../metrics';
import type { MountInput } from '../parameters/mount-request';
import { IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE, tokenFor } from '../parameters/mount-request';
import type { AwsCredentials, CredentialCache } from './credential-cache';
import type { PodIdentityAgent } from './pod-identity';
import type { TokenVerifier } from './token-verifier';

export interface IdentityResolverOptions {
  clients: AwsClients;
  cache: CredentialCache;
  verifier: TokenVerifier;
  lookups: PodLookups;
  podIdentity: PodIdentityAgent;
  metrics: ProviderMetrics;
}

/** STS allows [\w+=,.@-]{2,64} in session names. */
export function roleSessionName(namespace: string, podName: string): string {
  const name = `${namespace}.${podName}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
  return name.length >= 2 ? name : `${name}--`;
}

export class IdentityResolver {
  constructor(private readonly o: IdentityResolverOptions) {}

  /** Credentials for the pod of `input` in `region`. */
  async credentials(input: MountInput, region: string, signal?: AbortSignal): Promise<AwsCredentials> {
    const { namespace, serviceAccount } = input.pod;
    const subject = `system:serviceaccount:${namespace}:${serviceAccount}`;
    if (input.usePodIdentity) {
      const token = tokenFor(input, POD_IDENTITY_AUDIENCE);
      const key = `podidentity|${namespace}/${serviceAccount}|${region}`;
      return this.cached('podidentity', key, token, POD_IDENTITY_AUDIENCE, subject, () =>
        this.o.podIdentity.credentials(token, input.preferredAddressType, signal),
      );
    }
    const token = tokenFor(input, IRSA_AUDIENCE);
    const roleArn = await this.o.lookups.roleArn(namespace, serviceAccount, signal);
    const key = `irsa|${roleArn}|${namespace}/${serviceAccount}|${region}`;
    return this.cached('irsa', key, token, IRSA_AUDIENCE, subject, () =>
      this.assumeRole(input, roleArn, token, region, signal),
    );
  }

  private async cached(
    kind: 'irsa' | 'podidentity',
    key: string,
    token: string,
    audience: string,
    subject: string,
    fetch: () => Promise<AwsCredentials>,
  ): Promise<AwsCredentials> {
    const { cache } = this.o;
    // Another pod's fetch for this identity may be under way: wait for it rather than start a second.
    const available = cache.get(key) ?? (await cache.pending(key)?.catch(() => undefined));
    if (available && (await this.o.verifier.verify(token, { audience, subject }))) {
      this.o.metrics.credentialCache(kind, true);
      return available;
    }
    this.o.metrics.credentialCache(kind, false);
    // Not verified locally (or nothing cached): this pod's own token goes to STS or the agent.
    return available ? fetch() : cache.fetch(key, fetch);
  }

  private async assumeRole(
    input: MountInput,
    roleArn: string,
    token: string,
    region: string,
    signal?: AbortSignal,
  ): Promise<AwsCredentials> {
    try {
      const out = await this.o.clients.sts(region).send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: roleArn,
          RoleSessionName: roleSessionName(input.pod.namespace, input.pod.name),
          WebIdentityToken: token,
        }),
        { abortSignal: signal },
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('STS returned no credentials');
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiration: c.Expiration,
      };
    } catch (err) {
      const info = classifyAwsError(err);
      const sa = `${input.pod.namespace}/${input.pod.serviceAccount}`;
      const hint =
        info.code === 'AccessDenied'
          ? ` (check that the role's trust policy allows system:serviceaccount:${input.pod.namespace}:${input.pod.serviceAccount})`
          : '';
      throw new MountError(
        'CredentialsError',
        `failed to assume role ${roleArn} for ServiceAccount ${sa} in ${region}: ${info.code}: ${info.message}${hint}`,
        { cause: err, code: info.retriable ? info.status : undefined },
      );
    }
  }
}

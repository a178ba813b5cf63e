// The requester's own AWS identity: IRSA (the ServiceAccount's role, assumed with the request's
// token for sts.amazonaws.com) or EKS Pod Identity (the agent exchanges the pod's
// pods.eks.amazonaws.com token). A request is a pod's (the CSI driver's, with the kubelet's token
// bound to the pod) or a ServiceAccount's (the sync controller's, with a TokenRequest token bound
// to no pod): requester.ts tells them apart by the token. Its token is first verified locally
// (token-verifier.ts):
// - verified: the request may use credentials cached for its identity, or join the fetch under way;
// - not verified: only STS or the agent can judge it, so it goes there, and what comes back is
//   neither shared nor kept.
// What is shared is what AWS sees as one identity: an IRSA session is shared by every verified
// request of a ServiceAccount, pods and SecretSyncs alike, and named for it; Pod Identity
// credentials carry session tags naming the pod, so they serve that pod only (and a
// ServiceAccount's request cannot have any: parameters/mount-request.ts refuses it). A class's
// assumeRoleArn chains the requester's own credentials into another role (sts:AssumeRole); those
// are kept and shared exactly as its own credentials are.
import type { AssumeRoleCommandOutput, AssumeRoleWithWebIdentityCommandOutput } from '@aws-sdk/client-sts';
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import crypto from 'node:crypto';

import type { AwsErrorInfo } from '../aws-errors';
import { classifyAwsError } from '../aws-errors';
import { MountError } from '../errors';
import type { PodLookups } from '../kube-lookups';
import type { ProviderMetrics } from '../metrics';
import type { AssumeRoleTarget } from '../parameters/assume-role';
import type { MountInput } from '../parameters/mount-request';
import { IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE, tokenFor } from '../parameters/mount-request';
import type { AwsCredentials, CredentialCache } from './credential-cache';
import type { PodIdentityAgent } from './pod-identity';
import type { Requester } from './requester';
import type { RequestingPod, TokenVerifier, VerifiedToken } from './token-verifier';

/** STS per region, as far as assuming roles goes. */
export interface StsEndpoints {
  /** Without credentials: AssumeRoleWithWebIdentity. */
  sts(region: string): {
    send(
      command: AssumeRoleWithWebIdentityCommand,
      options?: { abortSignal?: AbortSignal },
    ): Promise<AssumeRoleWithWebIdentityCommandOutput>;
  };
  /** Signed with `credentials`: AssumeRole (role chaining). */
  stsAs(
    region: string,
    credentials: AwsCredentials,
  ): {
    send(
      command: AssumeRoleCommand,
      options?: { abortSignal?: AbortSignal },
    ): Promise<AssumeRoleCommandOutput>;
  };
}

export interface IdentityResolverOptions {
  clients: StsEndpoints;
  cache: CredentialCache;
  verifier: Pick<TokenVerifier, 'verify'>;
  lookups: Pick<PodLookups, 'roleArn'>;
  podIdentity: Pick<PodIdentityAgent, 'credentials'>;
  metrics: Pick<ProviderMetrics, 'credentialCache'>;
}

/**
 * STS in one region failed in a way STS in another region may not (throttling, 5xx, network):
 * the failover region is worth a try.
 */
export class StsUnavailableError extends MountError {
  constructor(
    message: string,
    readonly region: string,
    readonly info: AwsErrorInfo,
    options: { cause: unknown },
  ) {
    super('CredentialsError', message, { ...options, code: info.status });
  }
}

const SESSION_NAME_MAX = 64;

/**
 * The IRSA session name: STS allows [\w+=,.@-]{2,64}. The session is shared by the pods of a
 * ServiceAccount, so it names the ServiceAccount (`sa.<namespace>.<name>`); a name too long for
 * STS is cut and ends with a digest of the whole, so that two ServiceAccounts never share one.
 */
export function roleSessionName(namespace: string, serviceAccount: string): string {
  const name = `sa.${namespace}.${serviceAccount}`.replace(/[^\w+=,.@-]/g, '-');
  if (name.length <= SESSION_NAME_MAX) return name;
  const digest = crypto.createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, SESSION_NAME_MAX - digest.length - 1)}-${digest}`;
}

type IdentityKind = 'irsa' | 'podidentity';

/** How one identity is looked up, kept and fetched. */
interface IdentitySource {
  kind: IdentityKind;
  token: string;
  audience: string;
  /** The cache key of a request whose token verified locally; undefined: not shared. */
  keyOf: (verified: VerifiedToken) => string | undefined;
  fetch: (signal: AbortSignal | undefined) => Promise<AwsCredentials>;
  /** The identity in words, for errors. */
  describe: string;
  /** Who a trust policy names to let this identity in. */
  principal: string;
}

export class IdentityResolver {
  constructor(private readonly o: IdentityResolverOptions) {}

  /**
   * Credentials for the requester of `input` (a pod, or a SecretSync's ServiceAccount) in
   * `region`: its own, or, when the class names an assumeRoleArn, those of that role assumed with
   * its own. The chained credentials are kept under its own identity's key plus the role's, so
   * they are shared exactly as far as its own are, and never with a request whose token did not
   * verify.
   */
  async credentials(input: MountInput, region: string, signal?: AbortSignal): Promise<AwsCredentials> {
    const own = await this.ownIdentity(input, region, signal);
    const verified = await this.o.verifier.verify(own.token, {
      audience: own.audience,
      pod: input.pod,
      requester: input.requester,
    });
    const target = input.assumeRole;
    if (!target) return this.serve(own, input.requester, verified, signal);
    return this.serve(
      {
        ...own,
        keyOf: (v) => {
          const ownKey = own.keyOf(v);
          if (ownKey === undefined) return undefined;
          return `${ownKey}|assume|${target.roleArn}|${target.externalId ?? ''}|${target.durationSeconds ?? ''}|${region}`;
        },
        fetch: async (s) =>
          this.assumeTargetRole(
            input.pod,
            own,
            await this.serve(own, input.requester, verified, s),
            target,
            region,
            s,
          ),
      },
      input.requester,
      verified,
      signal,
    );
  }

  private async ownIdentity(
    input: MountInput,
    region: string,
    signal?: AbortSignal,
  ): Promise<IdentitySource> {
    const { pod } = input;
    const sa = `${pod.namespace}/${pod.serviceAccount}`;
    if (input.usePodIdentity) {
      const token = tokenFor(input, POD_IDENTITY_AUDIENCE);
      // The agent's credentials are the same in every region: the key names no region. They name
      // the pod, so only a pod's verified token has a key (a ServiceAccount's request never gets
      // here: EKS refuses a token bound to no pod, and so does parseMountRequest).
      return {
        kind: 'podidentity',
        token,
        audience: POD_IDENTITY_AUDIENCE,
        keyOf: (verified) =>
          verified.requester === 'pod' ? `podidentity|${sa}|${verified.pod.uid}` : undefined,
        fetch: (s) => this.o.podIdentity.credentials(token, input.preferredAddressType, s),
        describe: `the EKS Pod Identity role of ServiceAccount ${sa}`,
        principal: `the role of ServiceAccount ${sa}'s Pod Identity association`,
      };
    }
    const token = tokenFor(input, IRSA_AUDIENCE);
    const roleArn = await this.o.lookups.roleArn(pod.namespace, pod.serviceAccount, signal);
    return {
      kind: 'irsa',
      token,
      audience: IRSA_AUDIENCE,
      keyOf: () => `irsa|${roleArn}|${sa}|${region}`,
      fetch: (s) => this.assumeRole(pod, roleArn, token, region, s),
      describe: `role ${roleArn} of ServiceAccount ${sa}`,
      principal: roleArn,
    };
  }

  private async serve(
    identity: IdentitySource,
    requester: Requester,
    verified: VerifiedToken | undefined,
    signal: AbortSignal | undefined,
  ): Promise<AwsCredentials> {
    const { kind } = identity;
    const key = verified && identity.keyOf(verified);
    if (key === undefined) {
      this.o.metrics.credentialCache(kind, requester, false);
      return identity.fetch(signal);
    }
    const cached = this.o.cache.get(key);
    if (cached) {
      this.o.metrics.credentialCache(kind, requester, true);
      return cached;
    }
    let askedItself = false;
    let served = false;
    try {
      const credentials = await this.o.cache.fetch(key, {
        proof: identity.token,
        signal,
        fetch: (s) => {
          askedItself = true;
          return identity.fetch(s);
        },
      });
      served = true;
      return credentials;
    } finally {
      // A hit: this request's token verified and another request's call served it.
      if (askedItself || served) this.o.metrics.credentialCache(kind, requester, !askedItself);
    }
  }

  /** sts:AssumeRole into the class's role, signed with the pod's own credentials. */
  private async assumeTargetRole(
    pod: RequestingPod,
    own: IdentitySource,
    ownCredentials: AwsCredentials,
    target: AssumeRoleTarget,
    region: string,
    signal?: AbortSignal,
  ): Promise<AwsCredentials> {
    let out: AssumeRoleCommandOutput;
    try {
      out = await this.o.clients.stsAs(region, ownCredentials).send(
        new AssumeRoleCommand({
          RoleArn: target.roleArn,
          RoleSessionName: roleSessionName(pod.namespace, pod.serviceAccount),
          ExternalId: target.externalId,
          DurationSeconds: target.durationSeconds,
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      const info = classifyAwsError(err);
      const hint =
        info.code === 'AccessDenied'
          ? ` (the trust policy of ${target.roleArn} must allow ${own.principal} to call sts:AssumeRole${target.externalId ? ' with this sts:ExternalId' : ''}, and that role's own policy must allow sts:AssumeRole on ${target.roleArn})`
          : '';
      const message = `failed to assume role ${target.roleArn} (assumeRoleArn) with the credentials of ${own.describe} in ${region}: ${info.code}: ${info.message}${hint}`;
      if (info.retriable) throw new StsUnavailableError(message, region, info, { cause: err });
      throw new MountError('CredentialsError', message, { cause: err });
    }
    return credentialsOf(out, `STS in ${region} returned no credentials for role ${target.roleArn}`);
  }

  private async assumeRole(
    pod: RequestingPod,
    roleArn: string,
    token: string,
    region: string,
    signal?: AbortSignal,
  ): Promise<AwsCredentials> {
    let out: AssumeRoleWithWebIdentityCommandOutput;
    try {
      out = await this.o.clients.sts(region).send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: roleArn,
          RoleSessionName: roleSessionName(pod.namespace, pod.serviceAccount),
          WebIdentityToken: token,
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      const info = classifyAwsError(err);
      const sa = `${pod.namespace}/${pod.serviceAccount}`;
      const hint =
        info.code === 'AccessDenied'
          ? ` (check that the role's trust policy allows system:serviceaccount:${pod.namespace}:${pod.serviceAccount})`
          : '';
      const message = `failed to assume role ${roleArn} for ServiceAccount ${sa} in ${region}: ${info.code}: ${info.message}${hint}`;
      if (info.retriable) throw new StsUnavailableError(message, region, info, { cause: err });
      throw new MountError('CredentialsError', message, { cause: err });
    }
    return credentialsOf(out, `STS in ${region} returned no credentials for role ${roleArn}`);
  }
}

function credentialsOf(
  out: AssumeRoleCommandOutput | AssumeRoleWithWebIdentityCommandOutput,
  missing: string,
): AwsCredentials {
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey) throw new MountError('CredentialsError', missing);
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiration: c.Expiration,
  };
}

// The gate's parts wired together, from what differs between the lab (main.ts) and the unit tests:
// where IAM, Secrets Manager and the issuer's documents are read, and how the Pod Identity agent's
// role sessions are made.
import type { Logger } from '@sscsi/common';

import { Authorizer } from './authorizer';
import { CallCounter, FaultBook, type GateClock } from './faults';
import type { GateParts } from './gate-server';
import { CachedIam, type IamSource } from './iam-directory';
import { IssuerKeys, type IssuerKeysOptions, type JsonFetcher } from './issuer-keys';
import { EksAuth, type EksAuthOptions } from './eks-auth';
import { type LabCluster, PodIdentityAssociations } from './pod-identity';
import { CachedSecrets, type SecretSource } from './secret-directory';
import { SessionStore } from './sessions';
import { StsDecisions } from './sts-decisions';
import type { Upstream } from './upstream';

export interface GateSources {
  cluster: LabCluster;
  upstream: Upstream;
  /** The account root's keys: the one session the gate knows from the start. */
  root: { accessKeyId: string; secretAccessKey: string };
  iam: IamSource;
  secrets: SecretSource;
  /** How long IAM's and Secrets Manager's answers serve. */
  cacheTtlMs: number;
  /** GET of the cluster issuer's documents (discovery document, JWKS). */
  issuerDocuments: JsonFetcher;
  issuerKeys: Pick<IssuerKeysOptions, 'ttlMs' | 'refetchMinMs'>;
  assumeRole: EksAuthOptions['assumeRole'];
  /** AWS's clock, which tests move forward. */
  clock: GateClock;
  /** The node's clock, by which the Pod Identity agent checks tokens itself (Date.now). */
  nodeNow?: () => number;
  logger: Logger;
}

export function gateParts(s: GateSources): GateParts {
  const { cluster, clock } = s;
  const now = clock.now;
  const keys = new IssuerKeys(new Map([[cluster.issuer, s.issuerDocuments]]), s.issuerKeys);
  const iam = new CachedIam(s.iam, { ttlMs: s.cacheTtlMs });
  const secrets = new CachedSecrets(s.secrets, { ttlMs: s.cacheTtlMs });
  const sessions = new SessionStore(now);
  sessions.add({
    ...s.root,
    account: cluster.account,
    kind: 'root',
    arn: `arn:aws:iam::${cluster.account}:root`,
    sessionTags: {},
    context: {},
  });
  const associations = new PodIdentityAssociations(cluster, now);
  return {
    cluster,
    upstream: s.upstream,
    sessions,
    authorizer: new Authorizer({ iam, secrets, account: cluster.account, now }),
    sts: new StsDecisions({ iam, keys, account: cluster.account, now }),
    iam,
    secrets,
    associations,
    eksAuth: new EksAuth({
      cluster,
      associations,
      keys,
      iam,
      sessions,
      now,
      assumeRole: s.assumeRole,
    }),
    faults: new FaultBook(),
    calls: new CallCounter(),
    clock,
    nodeNow: s.nodeNow ?? Date.now,
    logger: s.logger,
  };
}

// Who an access key belongs to. The account root's key is configured; every other key is learned
// from the credentials the gate hands out (STS answers it forwards, the Pod Identity agent's
// answers). A key the gate never handed out is unknown, as AWS would find it, and fails closed.
import type { AwsRequest } from './aws-request';
import { refusal } from './aws-errors';
import { signatureMatches } from './sigv4';

export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  account: string;
  /** The account root (the lab's set-up key) or an assumed role's session. */
  kind: 'root' | 'role';
  /** `arn:aws:iam::<account>:root` or `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
  arn: string;
  roleArn?: string;
  roleName?: string;
  sessionName?: string;
  /** Epoch milliseconds; the root's key never expires. */
  expiresAt?: number;
  /** Session tags (Pod Identity's, AssumeRole's Tags): aws:PrincipalTag/..., over the role's tags. */
  sessionTags: Readonly<Record<string, string>>;
  /** Further request-context keys of the session, e.g. aws:FederatedProvider. */
  context: Readonly<Record<string, string>>;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number) {}

  add(session: Session): void {
    this.sessions.set(session.accessKeyId, session);
    if (this.sessions.size % 1000 === 0) this.prune();
  }

  get(accessKeyId: string): Session | undefined {
    return this.sessions.get(accessKeyId);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Forgets sessions that expired an hour ago or more (their keys are then simply unknown). */
  prune(): void {
    const horizon = this.now() - 3_600_000;
    for (const [key, s] of this.sessions)
      if (s.expiresAt !== undefined && s.expiresAt < horizon) this.sessions.delete(key);
  }
}

const INVALID = 'The security token included in the request is invalid.';

/** The session that signed the request, or the AWS error the request's service answers with. */
export function authenticate(request: AwsRequest, sessions: SessionStore, now: number): Session {
  const auth = request.authorization;
  if (!auth) throw refusal('missing-authentication', request.protocol, 'Missing Authentication Token');
  const session = sessions.get(auth.accessKeyId);
  if (!session) throw refusal('unknown-key', request.protocol, INVALID);
  if ((session.sessionToken ?? '') !== (request.sessionToken ?? ''))
    throw refusal('unknown-key', request.protocol, INVALID);
  if (session.expiresAt !== undefined && session.expiresAt <= now)
    throw refusal('expired-key', request.protocol, 'The security token included in the request is expired');
  if (!signatureMatches(request.wire, auth, session.secretAccessKey)) {
    throw refusal(
      'signature',
      request.protocol,
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return session;
}

function tag(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiresAt?: number;
  /** The assumed-role session ARN. */
  arn?: string;
}

/** The credentials in an STS AssumeRole* answer (XML). */
export function credentialsFromStsAnswer(xml: string): IssuedCredentials | undefined {
  const accessKeyId = tag(xml, 'AccessKeyId');
  const secretAccessKey = tag(xml, 'SecretAccessKey');
  if (!accessKeyId || !secretAccessKey) return undefined;
  const expiration = tag(xml, 'Expiration');
  return {
    accessKeyId,
    secretAccessKey,
    sessionToken: tag(xml, 'SessionToken'),
    expiresAt: expiration ? Date.parse(expiration) : undefined,
    arn: tag(xml, 'Arn'),
  };
}

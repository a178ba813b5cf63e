import { FakeCluster } from '../testing/fake-cluster';
import { requesterOf } from './requester';

const cluster = new FakeCluster();
const jwt = (claims: unknown) =>
  `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('requesterOf: who a request is for, told by its token', () => {
  it.each<[string, string | undefined, 'pod' | 'serviceaccount']>([
    [
      "the kubelet's token for a pod's volume",
      cluster.token(
        { namespace: 'default', serviceAccount: 'app', name: 'app-1', uid: 'u1' },
        { audience: 'sts.amazonaws.com' },
      ),
      'pod',
    ],
    [
      "the sync controller's TokenRequest token",
      cluster.serviceAccountToken(
        { namespace: 'default', serviceAccount: 'app' },
        { audience: 'sts.amazonaws.com' },
      ),
      'serviceaccount',
    ],
    [
      'a token without a kubernetes.io claim',
      jwt({ sub: 'system:serviceaccount:default:app' }),
      'serviceaccount',
    ],
    ['a pod claim of any shape (the verifier judges it)', jwt({ 'kubernetes.io': { pod: 'app-1' } }), 'pod'],
    ['a pod claim that is null', jwt({ 'kubernetes.io': { pod: null } }), 'serviceaccount'],
    ['no token', undefined, 'pod'],
    ['a token that is not a JWT', 'header.payload.signature', 'pod'],
    ['two parts only', 'a.b', 'pod'],
    ['a payload that is a JSON list', jwt(['kubernetes.io']), 'pod'],
  ])('%s', (_name, token, requester) => {
    expect(requesterOf(token)).toBe(requester);
  });
});

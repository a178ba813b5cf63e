import type { TokenRequest } from '@sscsi/common';
import { createLogger, KubeApiError } from '@sscsi/common';

import { SyncFailure } from '../sync/failure';
import type { TokenApi } from './service-account-tokens';
import { ServiceAccountTokens, TOKENS_ATTRIBUTE } from './service-account-tokens';

const T0 = Date.parse('2030-01-02T02:54:05Z');

/** The TokenRequest endpoint: issues `tok-<n>` for 600 s from the clock, or fails as told. */
class FakeTokenApi implements TokenApi {
  readonly requests: Array<{ path: string; body: TokenRequest }> = [];
  failWith?: () => Error;
  answerSpec: (spec: TokenRequest['spec']) => TokenRequest['spec'] = (spec) => spec;
  gate?: Promise<void>;
  private n = 0;

  constructor(private readonly clock: { now: number }) {}

  async create<T>(path: string, body: unknown): Promise<T> {
    this.requests.push({ path, body: structuredClone(body) as TokenRequest });
    await this.gate;
    if (this.failWith) throw this.failWith();
    const request = body as TokenRequest;
    const answer: TokenRequest = {
      ...request,
      spec: this.answerSpec(request.spec),
      status: {
        token: `tok-${++this.n}`,
        expirationTimestamp: new Date(this.clock.now + 600_000).toISOString().replace('.000Z', 'Z'),
      },
    };
    return answer as T;
  }
}

function setUp(audiences: string[], random = () => 0) {
  const clock = { now: T0 };
  const kube = new FakeTokenApi(clock);
  const lines: string[] = [];
  const logger = createLogger({
    name: 't',
    json: true,
    verbosity: 0,
    destination: { write: (l) => lines.push(l) },
  });
  const outcomes: string[] = [];
  const tokens = new ServiceAccountTokens({
    kube,
    audiences,
    logger,
    now: () => clock.now,
    random,
    requested: (o) => outcomes.push(o),
  });
  return { clock, kube, lines, tokens, outcomes };
}

const forbidden = () =>
  new KubeApiError(
    'POST',
    '/api/v1/namespaces/ns/serviceaccounts/app/token',
    403,
    'Forbidden',
    "serviceaccounts \"app\" is forbidden: ValidatingAdmissionPolicy 'secrets-store-sync-controller-validate-token-policy' with binding 'secrets-store-sync-controller-validate-token-policy-binding' denied request: secrets-store-sync-controller has failed to CREATE app token in the ns namespace. Check the configuration.",
  );

async function failure(promise: Promise<unknown>): Promise<SyncFailure> {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SyncFailure);
  return err as SyncFailure;
}

describe('ServiceAccountTokens', () => {
  it('requests nothing and adds no attribute without audiences', async () => {
    const { kube, tokens } = setUp([]);
    expect(await tokens.attribute('ns', 'app')).toBeUndefined();
    expect(kube.requests).toHaveLength(0);
    expect(TOKENS_ATTRIBUTE).toBe('csi.storage.k8s.io/serviceAccount.tokens');
  });

  it("asks one 600 s token per audience, bound to nothing, and writes upstream's JSON (audiences sorted)", async () => {
    const { kube, tokens } = setUp(['sts.amazonaws.com', 'api://x']);
    expect(await tokens.attribute('ns', 'app')).toBe(
      '{"api://x":{"token":"tok-2","expirationTimestamp":"2030-01-02T03:04:05Z"},"sts.amazonaws.com":{"token":"tok-1","expirationTimestamp":"2030-01-02T03:04:05Z"}}',
    );
    expect(kube.requests).toEqual([
      {
        path: '/api/v1/namespaces/ns/serviceaccounts/app/token',
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: ['sts.amazonaws.com'], expirationSeconds: 600 },
        },
      },
      {
        path: '/api/v1/namespaces/ns/serviceaccounts/app/token',
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: ['api://x'], expirationSeconds: 600 },
        },
      },
    ]);
  });

  it.each([
    ['no jitter', 0, 480_000],
    ['the most jitter: up to 9 s earlier', 0.999, 471_000],
  ])(
    "reuses a token until 80 %% of its lifetime, less the jitter, as the kubelet's cache (%s)",
    async (_jitter, random, renewAfterMs) => {
      const { clock, kube, tokens } = setUp(['aud'], () => random);
      await tokens.attribute('ns', 'app');
      clock.now = T0 + renewAfterMs;
      await tokens.attribute('ns', 'app');
      expect(kube.requests).toHaveLength(1);
      clock.now = T0 + renewAfterMs + 1;
      expect(await tokens.attribute('ns', 'app')).toContain('"tok-2"');
      expect(kube.requests).toHaveLength(2);
    },
  );

  it('renews a long-lived token after 24 hours, and never one whose answer has no lifetime', async () => {
    const long = setUp(['aud']);
    long.kube.answerSpec = (spec) => ({ ...spec, expirationSeconds: 7 * 24 * 3600 });
    await long.tokens.attribute('ns', 'app');
    // The fake's expiry is 600 s from issue while the answer claims a week: issued "a week minus 600 s ago".
    long.clock.now = T0 + 1000;
    await long.tokens.attribute('ns', 'app');
    expect(long.kube.requests).toHaveLength(2);

    const forever = setUp(['aud']);
    forever.kube.answerSpec = ({ audiences }) => ({ audiences });
    await forever.tokens.attribute('ns', 'app');
    forever.clock.now = T0 + 590_000;
    await forever.tokens.attribute('ns', 'app');
    expect(forever.kube.requests).toHaveLength(1);
  });

  it('keeps tokens apart per namespace, ServiceAccount and audience', async () => {
    const { kube, tokens } = setUp(['a', 'b']);
    await tokens.attribute('ns', 'app');
    await tokens.attribute('ns', 'other');
    await tokens.attribute('ns2', 'app');
    await tokens.attribute('ns', 'app');
    expect(kube.requests).toHaveLength(6);
    expect(tokens.size).toBe(6);
  });

  it('makes one request for many SecretSyncs asking at once', async () => {
    const { kube, tokens } = setUp(['aud']);
    let open: () => void = () => undefined;
    kube.gate = new Promise((resolve) => (open = resolve));
    const all = Array.from({ length: 20 }, () => tokens.attribute('ns', 'app'));
    await new Promise((resolve) => setImmediate(resolve));
    open();
    const answers = await Promise.all(all);
    expect(new Set(answers).size).toBe(1);
    expect(kube.requests).toHaveLength(1);
  });

  it("fails with the API's message when there is no token yet: a missing ServiceAccount, a refused audience", async () => {
    const missing = setUp(['aud']);
    missing.kube.failWith = () =>
      new KubeApiError('POST', '/x', 404, 'NotFound', 'serviceaccounts "app" not found');
    const err = await failure(missing.tokens.attribute('ns', 'app'));
    expect(err.reason).toBe('ControllerSyncError');
    expect(err.message).toBe(
      'fetching secrets from the provider failed: failed to fetch token: serviceaccounts "app" not found',
    );
    expect(missing.outcomes).toEqual(['failed']);

    const refused = setUp(['aud']);
    refused.kube.failWith = forbidden;
    expect((await failure(refused.tokens.attribute('ns', 'app'))).message).toBe(
      `fetching secrets from the provider failed: failed to fetch token: ${forbidden().detail}`,
    );
  });

  it('keeps a valid token when its renewal fails, logging without the token', async () => {
    const { clock, kube, tokens, lines } = setUp(['aud']);
    await tokens.attribute('ns', 'app');
    kube.failWith = () => new Error('connect ECONNREFUSED 10.0.0.1:443');
    clock.now = T0 + 500_000;
    expect(await tokens.attribute('ns', 'app')).toContain('"tok-1"');
    expect(lines.join('')).toMatch(/Couldn't update token/);
    expect(lines.join('')).toMatch(/ECONNREFUSED/);
    expect(lines.join('')).not.toContain('tok-1');
  });

  it("fails with upstream's message when an expired token cannot be renewed", async () => {
    const { clock, kube, tokens } = setUp(['aud']);
    await tokens.attribute('ns', 'app');
    kube.failWith = forbidden;
    clock.now = T0 + 600_001;
    const err = await failure(tokens.attribute('ns', 'app'));
    expect(err.message).toBe(
      `fetching secrets from the provider failed: token "app"/"ns"/[]string{"aud"}/600/v1.BoundObjectReference{Kind:"", APIVersion:"", Name:"", UID:""} expired and refresh failed: ${forbidden().detail}`,
    );
    expect(err.message).not.toContain('tok-1');
  });

  it('drops expired tokens once a minute', async () => {
    const { clock, tokens } = setUp(['aud']);
    await tokens.attribute('ns', 'a');
    await tokens.attribute('ns', 'b');
    clock.now = T0 + 30_000;
    await tokens.attribute('ns', 'a');
    expect(tokens.size).toBe(2);
    clock.now = T0 + 700_000;
    await tokens.attribute('ns', 'a');
    // b expired and went; a was renewed.
    expect(tokens.size).toBe(1);
  });

  it('starts a new request after a failed one, failures are not kept', async () => {
    const { kube, tokens } = setUp(['aud']);
    kube.failWith = forbidden;
    await failure(tokens.attribute('ns', 'app'));
    kube.failWith = undefined;
    expect(await tokens.attribute('ns', 'app')).toContain('"tok-1"');
    expect(kube.requests).toHaveLength(2);
  });
});

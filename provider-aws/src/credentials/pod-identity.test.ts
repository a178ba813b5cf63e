import { closedLoopbackUrl, rejectionOf } from '@sscsi/common/testing';
import type http from 'node:http';

import { MountError } from '../errors';
import { PodIdentityAgentOnLoopback } from '../testing/pod-identity-agent';
import { PodIdentityAgent } from './pod-identity';

jest.setTimeout(10_000);

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2lnbmF0dXJl';

type Handler = (token: string, res: http.ServerResponse) => void;

const answering =
  (status: number, body: string): Handler =>
  (_token, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(body);
  };

const CREDENTIALS = JSON.stringify({
  AccessKeyId: 'ASIAPOD',
  SecretAccessKey: 'secret-key',
  Token: 'session-token',
  AccountId: '123456789012',
  Expiration: '2030-01-01T00:00:00Z',
});

/** A credentials URL nothing listens on. */
const closedUrl = async (): Promise<string> => `${await closedLoopbackUrl()}/v1/credentials`;

const mountErrorOf = (work: Promise<unknown>) => rejectionOf(work, MountError);

const agents: PodIdentityAgentOnLoopback[] = [];
async function agent(handler: Handler): Promise<{ agent: PodIdentityAgentOnLoopback; url: string }> {
  const a = new PodIdentityAgentOnLoopback(handler);
  agents.push(a);
  return { agent: a, url: await a.start() };
}
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});

describe('PodIdentityAgent', () => {
  it("sends the pod's token as the Authorization header and reads the agent's credentials", async () => {
    const { agent: a, url } = await agent(answering(200, CREDENTIALS));
    const closed = await closedUrl();
    const pia = new PodIdentityAgent({ ipv4Url: url, ipv6Url: closed, timeoutMs: 2000 });
    expect(await pia.credentials(TOKEN, 'ipv4')).toEqual({
      accessKeyId: 'ASIAPOD',
      secretAccessKey: 'secret-key',
      sessionToken: 'session-token',
      expiration: new Date('2030-01-01T00:00:00Z'),
    });
    expect(a.authorizations).toEqual([TOKEN]);
  });

  it('asks the IPv6 address in ipv6 mode only', async () => {
    const v4 = await agent(answering(200, CREDENTIALS));
    const v6 = await agent(answering(200, CREDENTIALS));
    const pia = new PodIdentityAgent({ ipv4Url: v4.url, ipv6Url: v6.url, timeoutMs: 2000 });
    await pia.credentials(TOKEN, 'ipv6');
    expect([v4.agent.authorizations.length, v6.agent.authorizations.length]).toEqual([0, 1]);
  });

  it('falls back to the IPv6 address in auto mode when the IPv4 one does not answer', async () => {
    const v6 = await agent(answering(200, CREDENTIALS));
    const pia = new PodIdentityAgent({ ipv4Url: await closedUrl(), ipv6Url: v6.url, timeoutMs: 2000 });
    expect((await pia.credentials(TOKEN, 'auto')).accessKeyId).toBe('ASIAPOD');
    expect(v6.agent.authorizations).toEqual([TOKEN]);
  });

  it('falls back in auto mode when the IPv4 address takes longer than the timeout', async () => {
    const silent = await agent(() => undefined);
    const v6 = await agent(answering(200, CREDENTIALS));
    const pia = new PodIdentityAgent({ ipv4Url: silent.url, ipv6Url: v6.url, timeoutMs: 200 });
    expect((await pia.credentials(TOKEN, 'auto')).accessKeyId).toBe('ASIAPOD');
  });

  it('says which addresses did not answer, and why, without the token', async () => {
    const closed = await closedUrl();
    const silent = await agent(() => undefined);
    const pia = new PodIdentityAgent({ ipv4Url: closed, ipv6Url: silent.url, timeoutMs: 200 });
    const err = await mountErrorOf(pia.credentials(TOKEN, 'auto'));
    expect(err).toMatchObject({ reason: 'CredentialsError' });
    expect(err.message).toBe(
      `the EKS Pod Identity agent is unreachable (${closed}: ECONNREFUSED; ${silent.url}: no answer within 200 ms); is the eks-pod-identity-agent add-on installed on this node?`,
    );
  });

  it("takes the agent's refusal as final: no fallback, and the answer but not the token in the error", async () => {
    const v4 = await agent(answering(400, `{"message":"token ${TOKEN} is not valid\n for this cluster"}`));
    const v6 = await agent(answering(200, CREDENTIALS));
    const pia = new PodIdentityAgent({ ipv4Url: v4.url, ipv6Url: v6.url, timeoutMs: 2000 });
    const err = await mountErrorOf(pia.credentials(TOKEN, 'auto'));
    expect(err.message).toMatch(/refused the pod's token: HTTP 400 /);
    expect(err.message).toMatch(/is there a pod identity association for this ServiceAccount\?/);
    expect(err.message).not.toContain(TOKEN);
    expect(err.message).not.toContain('\n');
    expect(v6.agent.authorizations).toEqual([]);
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', '<html>', /answer that is not JSON/],
    ['no credentials', '{"AccountId":"123456789012"}', /sent no credentials/],
  ])('refuses an answer with %s', async (_name, body, message) => {
    const { url } = await agent(answering(200, body));
    const pia = new PodIdentityAgent({ ipv4Url: url, ipv6Url: url, timeoutMs: 2000 });
    expect((await mountErrorOf(pia.credentials(TOKEN, 'ipv4'))).message).toMatch(message);
  });

  it("stops at the caller's signal, without trying the other address", async () => {
    const silent = await agent(() => undefined);
    const v6 = await agent(answering(200, CREDENTIALS));
    const pia = new PodIdentityAgent({ ipv4Url: silent.url, ipv6Url: v6.url, timeoutMs: 5000 });
    const mount = new AbortController();
    const answer = pia.credentials(TOKEN, 'auto', mount.signal);
    while (silent.agent.authorizations.length === 0) await new Promise((resolve) => setImmediate(resolve));
    mount.abort();
    await expect(answer).rejects.toMatchObject({ name: 'AbortError' });
    expect(v6.agent.authorizations).toEqual([]);
  });
});

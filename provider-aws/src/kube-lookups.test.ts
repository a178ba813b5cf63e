import { KubeApiError } from '@sscsi/common';

import { MountError } from './errors';
import { KubePodLookups, REGION_LABEL, ROLE_ARN_ANNOTATION } from './kube-lookups';

const ROLE = 'arn:aws:iam::123456789012:role/app';

interface PendingGet {
  path: string;
  signal: AbortSignal | undefined;
  answer(value: unknown): void;
  fail(err: unknown): void;
}

/** An API server whose answers the test gives by hand; a request honours its signal as the real client does. */
class HandAnsweredApi {
  readonly requests: PendingGet[] = [];
  private waiters: Array<() => void> = [];

  get = <T>(path: string, opts?: { signal?: AbortSignal }): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const signal = opts?.signal;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      this.requests.push({ path, signal, answer: (v) => resolve(v as T), fail: reject });
      for (const wake of this.waiters.splice(0)) wake();
    });

  /** Resolves once `count` requests have arrived. */
  async received(count: number): Promise<PendingGet[]> {
    while (this.requests.length < count) await new Promise<void>((wake) => this.waiters.push(wake));
    return this.requests;
  }
}

const serviceAccount = (annotations: Record<string, string>) => ({ metadata: { name: 'app', annotations } });

describe('KubePodLookups: the ServiceAccount role', () => {
  it('makes one request for concurrent mounts and answers all of them', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const answers = Array.from({ length: 20 }, () => lookups.roleArn('default', 'app'));
    const [request] = await api.received(1);
    request?.answer(serviceAccount({ [ROLE_ARN_ANNOTATION]: ROLE }));
    expect(await Promise.all(answers)).toEqual(Array(20).fill(ROLE));
    expect(api.requests.map((r) => r.path)).toEqual(['/api/v1/namespaces/default/serviceaccounts/app']);
  });

  it('is not cancelled for everyone when the first mount gives up', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const first = new AbortController();
    const second = new AbortController();
    const firstAnswer = lookups.roleArn('default', 'app', first.signal);
    const secondAnswer = lookups.roleArn('default', 'app', second.signal);
    const [request] = await api.received(1);
    first.abort(new Error('the first mount timed out'));
    await expect(firstAnswer).rejects.toThrow(/the first mount timed out/);
    request?.answer(serviceAccount({ [ROLE_ARN_ANNOTATION]: ROLE }));
    expect(await secondAnswer).toBe(ROLE);
    expect(api.requests).toHaveLength(1);
  });

  it('stops waiting on its own signal even while the shared request goes on', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const mount = new AbortController();
    const answer = lookups.roleArn('default', 'app', mount.signal);
    await api.received(1);
    mount.abort(new Error('deadline'));
    await expect(answer).rejects.toThrow(MountError);
    await expect(answer).rejects.toThrow(/cannot read ServiceAccount default\/app: deadline/);
  });

  it('does not keep a failure: the next mount asks again', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const failed = lookups.roleArn('default', 'app');
    (await api.received(1))[0]?.fail(new Error('connection reset'));
    await expect(failed).rejects.toThrow(/cannot read ServiceAccount default\/app: connection reset/);
    const again = lookups.roleArn('default', 'app');
    (await api.received(2))[1]?.answer(serviceAccount({ [ROLE_ARN_ANNOTATION]: ROLE }));
    expect(await again).toBe(ROLE);
  });

  it('names the ServiceAccount that is missing or lacks the annotation', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const missing = lookups.roleArn('default', 'gone');
    (await api.received(1))[0]?.fail(new KubeApiError('GET', '/x', 404, 'NotFound', 'not found'));
    await expect(missing).rejects.toMatchObject({
      reason: 'KubernetesError',
      message: 'ServiceAccount default/gone not found',
    });
    const bare = lookups.roleArn('default', 'bare');
    (await api.received(2))[1]?.answer(serviceAccount({}));
    await expect(bare).rejects.toMatchObject({ reason: 'MissingRoleAnnotation' });
  });
});

describe('KubePodLookups: the node region', () => {
  const pod = (nodeName: string) => ({ metadata: { name: 'p' }, spec: { nodeName } });
  const node = (region: string) => ({ metadata: { name: 'n', labels: { [REGION_LABEL]: region } } });

  it('is not cancelled for everyone when the first mount gives up', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const first = new AbortController();
    const firstAnswer = lookups.nodeRegion('default', 'p1', first.signal);
    const secondAnswer = lookups.nodeRegion('default', 'p2');
    const [pod1, pod2] = await api.received(2);
    pod1?.answer(pod('node-1'));
    pod2?.answer(pod('node-1'));
    const nodeRequest = (await api.received(3))[2];
    expect(nodeRequest?.path).toBe('/api/v1/nodes/node-1');
    first.abort(new Error('the first mount timed out'));
    await expect(firstAnswer).rejects.toThrow(/the first mount timed out/);
    nodeRequest?.answer(node('eu-west-1'));
    expect(await secondAnswer).toBe('eu-west-1');
    expect(api.requests).toHaveLength(3);
  });

  it('reads the pod with the mount own signal', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const mount = new AbortController();
    const answer = lookups.nodeRegion('default', 'p1', mount.signal);
    const [podRequest] = await api.received(1);
    expect(podRequest?.signal).toBe(mount.signal);
    podRequest?.answer(pod('node-1'));
    (await api.received(2))[1]?.answer(node('ap-northeast-1'));
    expect(await answer).toBe('ap-northeast-1');
  });

  it('says which node has no region label', async () => {
    const api = new HandAnsweredApi();
    const lookups = new KubePodLookups(api);
    const answer = lookups.nodeRegion('default', 'p1');
    (await api.received(1))[0]?.answer(pod('bare-node'));
    (await api.received(2))[1]?.answer({ metadata: { name: 'bare-node' } });
    await expect(answer).rejects.toMatchObject({ reason: 'RegionNotFound' });
    await expect(answer).rejects.toThrow(/node bare-node has no topology.kubernetes.io\/region label/);
  });
});

import { secretSync } from '../testing/objects';
import { pollOrder } from './poll-order';

const ss = (name: string, serviceAccountName: string, secretProviderClassName: string, namespace = 'team') =>
  secretSync({ name, namespace, uid: name, serviceAccountName, secretProviderClassName });

describe('pollOrder', () => {
  it("puts one SecretSync of each of a ServiceAccount's classes first, so their provider calls start together", () => {
    const order = pollOrder([
      ss('a1', 'app', 'db'),
      ss('a2', 'app', 'db'),
      ss('a3', 'app', 'db'),
      ss('b1', 'app', 'cache'),
      ss('b2', 'app', 'cache'),
      ss('w1', 'web', 'db'),
      ss('a4', 'app', 'db'),
    ]);
    expect(order).toEqual(['team/a1', 'team/b1', 'team/a2', 'team/b2', 'team/a3', 'team/a4', 'team/w1']);
  });

  it('keeps a ServiceAccount of another namespace apart, though it has the same name', () => {
    expect(
      pollOrder([
        ss('x', 'app', 'db', 'one'),
        ss('y', 'app', 'cache', 'two'),
        ss('z', 'app', 'cache', 'one'),
      ]),
    ).toEqual(['one/x', 'one/z', 'two/y']);
  });

  it('enqueues every SecretSync exactly once', () => {
    const all = Array.from({ length: 60 }, (_, i) =>
      ss(`s${i}`, `sa${i % 4}`, `class${i % 7}`, `ns${i % 3}`),
    );
    const order = pollOrder(all);
    expect(order).toHaveLength(60);
    expect(new Set(order)).toEqual(new Set(all.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)));
    expect(pollOrder([])).toEqual([]);
  });
});

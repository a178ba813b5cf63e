// What the harness reads of the controllers' logs: the reconciles each SecretSync has begun, from
// our controller's lines (text and JSON) and upstream's (zap's console encoding, whose context
// names the namespace alone before SSC's own `namespace` key gives namespace/name).
import { reconcilesBegun } from './sync-controller-system';

const UPSTREAM_LINE = (ns: string, name: string) =>
  `2026-12-07T00:45:59Z\tINFO\tReconciling SecretSync\t{"controller": "secretsync", "controllerGroup": "secret-sync.x-k8s.io", "controllerKind": "SecretSync", "SecretSync": {"name":"${name}","namespace":"${ns}"}, "namespace": "${ns}", "name": "${name}", "reconcileID": "02b5b59b-e953-43eb-b862-921a9e2a6708", "namespace": "${ns}/${name}"}`;

describe('reconcilesBegun', () => {
  it("counts upstream's lines by namespace/name, not by the namespace its context names first", () => {
    const log = [
      UPSTREAM_LINE('default', 'a'),
      '2026-12-07T00:45:59Z\tERROR\tReconciler error\t{"namespace": "default/a"}',
      UPSTREAM_LINE('default', 'a'),
      UPSTREAM_LINE('team-1', 'db.v2'),
    ].join('\n');
    expect(reconcilesBegun(log)).toEqual(
      new Map([
        ['default/a', 2],
        ['team-1/db.v2', 1],
      ]),
    );
  });

  it('counts our text and JSON lines, and nothing else', () => {
    const log = [
      '2026-12-07T00:46:06.429Z INFO  secrets-store-sync-controller: Reconciling SecretSync secretSync=app/good',
      '2026-12-07T00:46:06.729Z INFO  secrets-store-sync-controller: Secret created secretSync=app/good syncHash=v1:00',
      '{"level":30,"time":1,"name":"secrets-store-sync-controller","secretSync":"app/good","msg":"Reconciling SecretSync"}',
      '2026-12-07T00:46:06.239Z DEBUG secrets-store-sync-controller: syncing every SecretSync secretSyncs=0 why=start',
    ].join('\n');
    expect(reconcilesBegun(log)).toEqual(new Map([['app/good', 2]]));
  });
});

// The health probes on --health-probe-bind-address (plain HTTP), at controller-runtime's paths:
// /healthz (and /healthz/healthz) answers while the process serves; /readyz (and /readyz/readyz)
// once the informers have filled their caches. Upstream's /readyz is a plain ping; ours says
// whether this replica could reconcile (a replica that cannot reach the API server is not ready).
import { type HttpAnswer, type HttpEndpoint, serveHttp } from '@sscsi/common';

export type ProbeServer = HttpEndpoint;

const NOT_READY = '[-]readyz failed: the SecretSync and SecretProviderClass caches are not filled yet';

function answer(ok: boolean, failure: string): HttpAnswer {
  return { status: ok ? 200 : 500, contentType: 'text/plain; charset=utf-8', body: ok ? 'ok' : failure };
}

export function serveProbes(listenAddress: string, ready: () => boolean): Promise<ProbeServer> {
  return serveHttp(listenAddress, (path) => {
    if (path === '/healthz' || path === '/healthz/healthz') return answer(true, '');
    if (path === '/readyz' || path === '/readyz/readyz') return answer(ready(), NOT_READY);
    return undefined;
  });
}

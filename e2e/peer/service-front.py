#!/usr/bin/env python3
"""The lab's stand-in for kube-proxy, for the few Services a peer suite reaches by name.

  service-front.py LISTEN=NAMESPACE/SERVICE:PORT [...]

The lab has no kube-proxy and no cluster DNS (e2e/lab/README.md). A suite whose pods call a Service
by name (openbao.bats: the OpenBao CSI provider calls http://openbao.openbao:8200) gets the name from
the pods' hostAliases (lab-service-render.py), which point at LISTEN; this program accepts each
connection there and passes its bytes to one ready endpoint of the Service's PORT, as kube-proxy's
userspace mode did: the Service's own selector and EndpointSlices choose the pod, and a pod that is
replaced is followed on the next connection. Endpoints are read with kubectl (the lab's, on PATH,
with its KUBECONFIG) and kept for two seconds.

Runs until SIGTERM. Nothing is read or logged but addresses.
"""
import asyncio
import json
import random
import signal
import subprocess
import sys
import time

CACHE_SECONDS = 2.0
CONNECT_SECONDS = 5.0


def log(text):
    print(f"service-front: {text}", file=sys.stderr, flush=True)


def parse_spec(spec):
    """(listen host, listen port, namespace, service, service port) of LISTEN=NS/SERVICE:PORT."""
    listen, sep, target = spec.partition("=")
    service, _, port = target.rpartition(":")
    namespace, slash, name = service.partition("/")
    host, _, listen_port = listen.rpartition(":")
    if not (sep and slash and namespace and name and host and port.isdigit() and listen_port.isdigit()):
        raise SystemExit(f"service-front: {spec!r} is not LISTEN_HOST:PORT=NAMESPACE/SERVICE:PORT")
    return host, int(listen_port), namespace, name, int(port)


def kubectl_json(*args):
    out = subprocess.run(["kubectl", *args, "-o", "json"], capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        raise LookupError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "kubectl failed")
    return json.loads(out.stdout)


def ready_endpoints(namespace, name, port):
    """[(ip, port)] of the Service port's ready endpoints, by its EndpointSlices."""
    service = kubectl_json("get", "service", name, "-n", namespace)
    ports = [p for p in service["spec"].get("ports", []) if p.get("port") == port]
    if not ports:
        raise LookupError(f"service {namespace}/{name} has no port {port}")
    port_name = ports[0].get("name", "")
    slices = kubectl_json("get", "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={name}")
    found = []
    for endpoint_slice in slices.get("items", []):
        numbers = [p["port"] for p in endpoint_slice.get("ports") or [] if p.get("name", "") == port_name and "port" in p]
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            found += [(address, number) for address in endpoint.get("addresses", []) for number in numbers]
    return found


class Route:
    def __init__(self, namespace, name, port):
        self.namespace, self.name, self.port = namespace, name, port
        self.cached, self.read_at = [], float("-inf")
        # One lookup at a time: connections that arrive together wait for it and share its answer.
        self.lookup = asyncio.Lock()

    def describe(self):
        return f"{self.namespace}/{self.name}:{self.port}"

    async def endpoint(self):
        async with self.lookup:
            if time.monotonic() - self.read_at > CACHE_SECONDS:
                try:
                    self.cached = await asyncio.to_thread(ready_endpoints, self.namespace, self.name, self.port)
                except Exception:
                    self.cached = []
                    raise
                finally:
                    # A failed lookup is kept as long as an answer, so that a burst of connections
                    # to a Service not there yet makes one kubectl call, not one each.
                    self.read_at = time.monotonic()
        if not self.cached:
            raise LookupError(f"service {self.describe()} has no ready endpoint")
        return random.choice(self.cached)


async def pipe(reader, writer):
    """Bytes one way until the sender's end; then that end is passed on (half-close), so that the
    answer the other way still arrives. False when the way broke (a reset, a failed write)."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        return True
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        return False


def close(*writers):
    for writer in writers:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - already closed by the other side
            pass


def handler(route):
    async def handle(client_reader, client_writer):
        try:
            host, port = await route.endpoint()
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_SECONDS
            )
        except Exception as err:  # noqa: BLE001 - any failed lookup or connect: kubectl's, the JSON's, the pod's
            # The connection is refused, as a Service without endpoints refuses it.
            log(f"{route.describe()}: {err}")
            client_writer.close()
            return
        ways = [
            asyncio.ensure_future(pipe(client_reader, upstream_writer)),
            asyncio.ensure_future(pipe(upstream_reader, client_writer)),
        ]
        try:
            # Both ways run to their ends; a way that breaks (a reset) ends the other one too.
            while ways:
                done, pending = await asyncio.wait(ways, return_when=asyncio.FIRST_COMPLETED)
                if any(not task.cancelled() and task.result() is False for task in done):
                    for task in pending:
                        task.cancel()
                ways = list(pending)
        except asyncio.CancelledError:
            for task in ways:
                task.cancel()
        finally:
            close(client_writer, upstream_writer)

    return handle


async def main(specs):
    if not specs:
        raise SystemExit(__doc__)
    servers = []
    for spec in specs:
        host, listen_port, namespace, name, port = parse_spec(spec)
        route = Route(namespace, name, port)
        servers.append(await asyncio.start_server(handler(route), host, listen_port, reuse_address=True))
        log(f"{host}:{listen_port} -> service {route.describe()}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

#!/usr/bin/env python3
"""The lab's stand-ins for two AWS addresses a provider cannot be told about, in front of the gate.

  aws-front.py --tls LISTEN=TARGET --cert CRT --key KEY [--plain LISTEN=TARGET ...]

--tls: TLS on LISTEN (host:port) with CRT/KEY, the decrypted bytes passed to TARGET (host:port). The
  upstream AWS provider's STS client ignores AWS_ENDPOINT_URL and calls https://sts.<region>.
  amazonaws.com; the pods' hostAliases name this address for those hosts (run.sh sends its port 443
  here), and the certificate is the lab CA's for them, so the gate behind still sees the original
  Host header and signature.
--plain: bytes passed as they are; the EKS Pod Identity agent's address (169.254.170.23:80), which
  upstream's provider has built in, in front of the gate's agent.

Runs until SIGTERM. Connections are piped both ways; nothing is read or logged but the addresses.
"""
import argparse
import asyncio
import signal
import ssl
import sys


def address(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - already closed by the other side
            pass


def handler(target):
    async def handle(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError as err:
            print(f"aws-front: cannot reach {target[0]}:{target[1]}: {err}", file=sys.stderr, flush=True)
            client_writer.close()
            return
        try:
            await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        except asyncio.CancelledError:
            # The front is stopping with this connection open.
            pass

    return handle


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tls", action="append", default=[])
    p.add_argument("--plain", action="append", default=[])
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()
    context = None
    if a.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
    servers = []
    for spec, tls in [(s, True) for s in a.tls] + [(s, False) for s in a.plain]:
        listen, _, target = spec.partition("=")
        server = await asyncio.start_server(
            handler(address(target)), *address(listen), ssl=context if tls else None, reuse_address=True
        )
        servers.append(server)
        print(f"aws-front: {'tls' if tls else 'plain'} {listen} -> {target}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""Checks of the lab's Service stand-ins for openbao.bats, without the lab: service-front.py against
a stub kubectl (its answers from files this test writes) and a local echo server as the Service's
endpoint, and lab-service-render.py on a small release. Run: python3 e2e/peer/front-test.py."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoServer:
    """The Service's pod: answers each connection with what it received."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    @staticmethod
    def echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


def exchange(port, payload, timeout=10):
    """What the front answers to payload on a new connection (b'' when it closes it unanswered)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        got = b""
        try:
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            while chunk := c.recv(65536):
                got += chunk
        except (ConnectionResetError, BrokenPipeError, OSError):
            # Closed by the front before or while it was written to: refused.
            return b""
        return got


class ServiceFrontTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="front-test-")
        self.echo = EchoServer()
        self.calls = os.path.join(self.dir, "calls")
        # kubectl prints the Service or the EndpointSlices this test wrote, and counts its calls.
        stub = os.path.join(self.dir, "kubectl")
        with open(stub, "w") as f:
            f.write(
                "#!/bin/sh\n"
                f'echo "$*" >>"{self.calls}"\n'
                f'case "$2" in service) cat "{self.dir}/service.json" ;; endpointslices) cat "{self.dir}/slices.json" ;; esac\n'
            )
        os.chmod(stub, 0o755)
        self.write_service(ready=True)
        self.port = free_port()
        env = dict(os.environ, PATH=f"{self.dir}:{os.environ['PATH']}")
        self.front = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "service-front.py"), f"127.0.0.1:{self.port}=openbao/openbao:8200"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.assertIn("-> service openbao/openbao:8200", self.front.stderr.readline())

    def tearDown(self):
        self.front.terminate()
        self.front.wait(timeout=10)
        self.front.stderr.close()
        self.echo.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_service(self, ready):
        service = {"spec": {"ports": [{"name": "http", "port": 8200, "targetPort": 8200}]}}
        slices = {
            "items": [
                {
                    # Another port of the same pods, and an endpoint that is not ready: never chosen.
                    "ports": [{"name": "https-internal", "port": 1}, {"name": "http", "port": self.echo.port}],
                    "endpoints": [
                        {"addresses": ["127.0.0.1"], "conditions": {"ready": ready}},
                        {"addresses": ["127.0.0.2"], "conditions": {"ready": False}},
                    ],
                }
            ]
        }
        for name, doc in (("service.json", service), ("slices.json", slices)):
            with open(os.path.join(self.dir, name + ".tmp"), "w") as f:
                json.dump(doc, f)
            os.replace(os.path.join(self.dir, name + ".tmp"), os.path.join(self.dir, name))

    def kubectl_calls(self):
        try:
            with open(self.calls) as f:
                return len(f.readlines())
        except FileNotFoundError:
            return 0

    def test_passes_bytes_to_the_ready_endpoint_of_the_service_port(self):
        self.assertEqual(exchange(self.port, b"GET /v1/sys/health\r\n"), b"GET /v1/sys/health\r\n")

    def test_many_connections_at_once_each_get_their_own_bytes_and_share_one_lookup(self):
        results = {}

        def one(i):
            results[i] = exchange(self.port, f"connection {i}\n".encode() * 1000)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual({i: results[i] for i in range(20)}, {i: f"connection {i}\n".encode() * 1000 for i in range(20)})
        # Two kubectl calls per lookup (the Service, its EndpointSlices); the cache keeps the
        # lookups far below one per connection.
        self.assertLessEqual(self.kubectl_calls(), 2 * 5)

    def test_refuses_while_the_service_has_no_ready_endpoint_and_follows_it_once_ready(self):
        self.write_service(ready=False)
        time.sleep(2.2)  # past the cache of the lookup made in setUp's check, if any
        self.assertEqual(exchange(self.port, b"anything"), b"")
        self.write_service(ready=True)
        deadline = time.monotonic() + 10
        got = b""
        while time.monotonic() < deadline and got != b"back":
            got = exchange(self.port, b"back")
            time.sleep(0.3)
        self.assertEqual(got, b"back")

    def test_refuses_when_kubectl_fails(self):
        os.remove(os.path.join(self.dir, "service.json"))
        with open(os.path.join(self.dir, "kubectl"), "a") as f:
            f.write('[ -f "%s/service.json" ] || { echo "services \\"openbao\\" not found" >&2; exit 1; }\n' % self.dir)
        time.sleep(2.2)
        self.assertEqual(exchange(self.port, b"anything"), b"")


class RenderTest(unittest.TestCase):
    RELEASE = [
        {"kind": "Service", "metadata": {"name": "openbao"}, "spec": {"ports": [{"port": 8200}]}},
        {"kind": "StatefulSet", "metadata": {"name": "openbao"}, "spec": {"template": {"spec": {"containers": []}}}},
        {"kind": "DaemonSet", "metadata": {"name": "csi"}, "spec": {"template": {"spec": {"containers": []}}}},
    ]

    def render(self, services, docs):
        import yaml

        out = subprocess.run(
            [sys.executable, os.path.join(HERE, "lab-service-render.py")],
            input=yaml.safe_dump_all(docs),
            capture_output=True,
            text=True,
            env=dict(os.environ, PEER_SERVICE_FRONT_IP="10.201.0.20", PEER_SERVICE_FRONT_SERVICES=services),
        )
        return out.returncode, [d for d in yaml.safe_load_all(out.stdout) if d], out.stderr

    def test_every_pod_template_gets_the_service_names_once_and_nothing_else_changes(self):
        rc, docs, _ = self.render("openbao/openbao", self.RELEASE)
        self.assertEqual(rc, 0)
        names = ["openbao.openbao", "openbao.openbao.svc", "openbao.openbao.svc.cluster.local"]
        for doc in docs[1:]:
            self.assertEqual(doc["spec"]["template"]["spec"]["hostAliases"], [{"ip": "10.201.0.20", "hostnames": names}])
        self.assertEqual(docs[0], self.RELEASE[0])
        rc, again, _ = self.render("openbao/openbao", docs)
        self.assertEqual(again, docs)

    def test_a_service_not_written_namespace_slash_name_is_refused(self):
        rc, _, err = self.render("openbao", self.RELEASE)
        self.assertNotEqual(rc, 0)
        self.assertIn("'openbao' in PEER_SERVICE_FRONT_SERVICES is not NAMESPACE/NAME", err)


if __name__ == "__main__":
    try:
        import yaml  # noqa: F401 - the render needs PyYAML, as under helm (the peer venv's Python)
    except ImportError:
        sys.exit(f"front-test: {sys.executable} has no PyYAML; run it with the lab's moto venv's python (make test-unit does)")
    unittest.main(verbosity=1)

#!/usr/bin/env python3
"""Gives a release's pods the names of the Services the lab's service front serves (a helm
post-renderer: YAML documents in, YAML out).

The lab has no cluster DNS. For each Service listed in PEER_SERVICE_FRONT_SERVICES (space-separated
NAMESPACE/NAME), every pod template of the release gets hostAliases naming NAME.NAMESPACE,
NAME.NAMESPACE.svc and NAME.NAMESPACE.svc.cluster.local as PEER_SERVICE_FRONT_IP, where
service-front.py passes the connections on to the Service's endpoints (e2e/peer/SUBSTITUTIONS.md).
Nothing else is changed. Run with the peer venv's python (PyYAML), which run.sh puts first on PATH.
"""
import os
import sys

import yaml

WORKLOADS = ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job")


def service_names(services):
    names = []
    for service in services:
        namespace, _, name = service.partition("/")
        if not (namespace and name):
            raise SystemExit(f"lab-service-render: {service!r} in PEER_SERVICE_FRONT_SERVICES is not NAMESPACE/NAME")
        names += [f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
    return names


def main():
    front_ip = os.environ["PEER_SERVICE_FRONT_IP"]
    names = service_names(os.environ.get("PEER_SERVICE_FRONT_SERVICES", "").split())
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") not in WORKLOADS:
            continue
        template = (doc.get("spec") or {}).get("template")
        if not template or not names:
            continue
        aliases = template.setdefault("spec", {}).setdefault("hostAliases", [])
        if not any(a.get("ip") == front_ip for a in aliases):
            aliases.append({"ip": front_ip, "hostnames": names})
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()

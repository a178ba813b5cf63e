#!/usr/bin/env python3
"""Points an AWS provider's manifests at the lab's AWS (a filter: YAML documents in, YAML out).

Used as helm's --post-renderer and on the installer files the suites apply (e2e/peer/bin/kubectl).
For every container named `provider-aws-installer` (the AWS provider, in upstream's and in our
charts and installers) it adds what the lab needs in place of AWS's public endpoints, and nothing
else (e2e/peer/SUBSTITUTIONS.md):

- AWS_ENDPOINT_URL: the lab's AWS endpoint, which both providers' Secrets Manager and SSM clients
  read (upstream's STS client does not; see the next two);
- hostAliases naming AWS's STS endpoints of the suites' regions as the lab's TLS front (aws-front.py);
- the lab's CA (ConfigMap lab-aws-ca) mounted, and SSL_CERT_FILE naming it, so that a Go program
  trusts the front's certificate;
- and, in every container of every pod template, imagePullPolicy Always becomes IfNotPresent: the
  images are in the node's containerd and no registry is reachable.

Run with the venv's python (PyYAML). Settings come from the environment: PEER_AWS_ENDPOINT_URL,
PEER_AWS_FRONT_IP, PEER_AWS_REGIONS (space-separated).
"""
import os
import sys

import yaml

PROVIDER_CONTAINER = "provider-aws-installer"
CA_CONFIGMAP = "lab-aws-ca"
CA_DIR = "/etc/lab-aws-ca"


def pod_spec(doc):
    """The pod template's spec of a workload, or None."""
    if not isinstance(doc, dict):
        return None
    template = (doc.get("spec") or {}).get("template")
    if doc.get("kind") in ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job") and template:
        return template.setdefault("spec", {})
    return None


def add_env(container, name, value):
    env = container.setdefault("env", [])
    if not any(e.get("name") == name for e in env):
        env.append({"name": name, "value": value})


def point_at_lab(spec, endpoint, front_ip, regions):
    providers = [c for c in spec.get("containers", []) if c.get("name") == PROVIDER_CONTAINER]
    if not providers:
        return
    for c in providers:
        add_env(c, "AWS_ENDPOINT_URL", endpoint)
        add_env(c, "SSL_CERT_FILE", f"{CA_DIR}/ca.crt")
        mounts = c.setdefault("volumeMounts", [])
        if not any(m.get("name") == CA_CONFIGMAP for m in mounts):
            mounts.append({"name": CA_CONFIGMAP, "mountPath": CA_DIR, "readOnly": True})
    volumes = spec.setdefault("volumes", [])
    if not any(v.get("name") == CA_CONFIGMAP for v in volumes):
        volumes.append({"name": CA_CONFIGMAP, "configMap": {"name": CA_CONFIGMAP}})
    hosts = ["sts.amazonaws.com"] + [f"sts.{r}.amazonaws.com" for r in regions]
    aliases = spec.setdefault("hostAliases", [])
    if not any(a.get("ip") == front_ip for a in aliases):
        aliases.append({"ip": front_ip, "hostnames": hosts})


def main():
    endpoint = os.environ["PEER_AWS_ENDPOINT_URL"]
    front_ip = os.environ["PEER_AWS_FRONT_IP"]
    regions = os.environ.get("PEER_AWS_REGIONS", "").split()
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            if c.get("imagePullPolicy") == "Always":
                c["imagePullPolicy"] = "IfNotPresent"
        point_at_lab(spec, endpoint, front_ip, regions)
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()

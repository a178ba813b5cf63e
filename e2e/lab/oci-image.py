#!/usr/bin/env python3
"""Writes an OCI image layout tarball from folders, without a registry or a container engine.

  oci-image.py --name docker.io/library/busybox:lab --out busybox.tar \
      --layer rootfs/ [--layer more/] [--entrypoint '["/bin/sh"]'] [--cmd '[]'] \
      [--env K=V ...] [--workdir /] [--user 65532:65532]

Each folder becomes one gzip layer (files owned by root unless --owner is given, or the layer is
given as `folder=uid:gid`; times set to 0 so that the same inputs give the same digests). `ctr -n k8s.io images import` reads the result; the
annotation io.containerd.image.name gives the image its name.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile


def layer_of(folder, owner, cache):
    """(gzip bytes, sha256 of the uncompressed tar) of a folder's contents. Compressed layers are
    kept in `cache` by the digest of their contents: a layer shared by several images (the Node.js
    runtime) is compressed once."""
    raw = io.BytesIO()
    uid, gid = owner
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(root, name)
                arcname = os.path.relpath(full, folder)
                info = tar.gettarinfo(full, arcname)
                info.uid, info.gid, info.uname, info.gname, info.mtime = uid, gid, "", "", 0
                if info.isfile():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
            # Symlinks to folders are listed in dirs but must not be walked into.
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    data = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    cached = os.path.join(cache, diff_id.split(":")[1] + ".tar.gz") if cache else None
    if cached and os.path.exists(cached):
        with open(cached, "rb") as f:
            return f.read(), diff_id
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=1) as gz:
        gz.write(data)
    if cached:
        os.makedirs(cache, exist_ok=True)
        with open(cached + ".tmp", "wb") as f:
            f.write(compressed.getvalue())
        os.replace(cached + ".tmp", cached)
    return compressed.getvalue(), diff_id


def blob(tar, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":")[1])
    info.size, info.mtime = len(data), 0
    tar.addfile(info, io.BytesIO(data))
    return {"digest": digest, "size": len(data)}


def layer_owner(spec, default):
    """(folder, (uid, gid)) of a --layer value: `folder` or `folder=uid:gid`."""
    folder, sep, ids = spec.rpartition("=")
    if not sep:
        return spec, default
    uid, _, gid = ids.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise SystemExit(f"--layer {spec}: the owner after '=' must be uid:gid in numbers")
    return folder, (int(uid), int(gid))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--layer", action="append", required=True)
    p.add_argument("--entrypoint", default="null")
    p.add_argument("--cmd", default="null")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--workdir", default="/")
    p.add_argument("--user", default="")
    p.add_argument("--owner", default="0:0", help="uid:gid of the files in the layers")
    p.add_argument("--cache", default="", help="folder keeping compressed layers by content digest")
    a = p.parse_args()

    owner = tuple(int(x) for x in a.owner.split(":"))
    layers = [layer_of(*layer_owner(spec, owner), a.cache) for spec in a.layer]
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": env,
            "Entrypoint": json.loads(a.entrypoint),
            "Cmd": json.loads(a.cmd),
            "WorkingDir": a.workdir,
            "User": a.user,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]},
    }
    tmp = a.out + ".tmp"
    with tarfile.open(tmp, "w") as tar:
        layout = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
        info = tarfile.TarInfo("oci-layout")
        info.size = len(layout)
        tar.addfile(info, io.BytesIO(layout))
        config_desc = blob(tar, json.dumps(config, sort_keys=True).encode())
        layer_descs = [blob(tar, data) for data, _ in layers]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **d} for d in layer_descs],
        }
        manifest_desc = blob(tar, json.dumps(manifest, sort_keys=True).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    **manifest_desc,
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": a.name,
                        "org.opencontainers.image.ref.name": a.name.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
        data = json.dumps(index).encode()
        info = tarfile.TarInfo("index.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()

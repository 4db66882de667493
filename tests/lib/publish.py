#!/usr/bin/env python3
"""Publish one template into the Lago `file` repo shared by the test templates.

    publish.py REPO STAGED_IMAGE META_JSON INPUTS

Copies STAGED_IMAGE into REPO (as its file name), writes `<image>.hash`
(sha1) and `<image>.metadata` (META_JSON plus sha1), then adds or replaces
this template's entry in `repo.metadata`, keeping every other template's
entry, and records INPUTS in `.inputs.<name>`. Each file is replaced by a
rename, and the whole publish holds `REPO/.lock`, so two template builds
never clobber each other's entries and a reader sees whole files only.

Versions name their build inputs, so every rebuild is a new version in the
tests' template store (`$LAGO_TEST_ROOT/store`) too; the ones of this
template the repo no longer lists are removed from there, unless a process
(a running guest's qemu) holds the image open.
"""
import fcntl
import hashlib
import json
import os
import sys


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def dump(obj):
    return json.dumps(obj, indent=4, sort_keys=True) + "\n"


def main(repo, staged, meta_json, inputs):
    meta = json.loads(meta_json)
    name, version = meta["name"], meta["version"]
    # the repo entry's timestamp; a plain Lago template's metadata has none
    timestamp = meta.pop("repo-timestamp", None) or meta["timestamp"]
    image = os.path.basename(staged)
    os.makedirs(repo, exist_ok=True)
    os.chmod(repo, 0o755)
    with open(os.path.join(repo, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sha1 = hashlib.sha1()
        with open(staged, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha1.update(block)
        sha1 = sha1.hexdigest()
        meta["sha1"] = sha1
        target = os.path.join(repo, image)
        os.chmod(staged, 0o644)
        os.replace(staged, target)  # same filesystem: the staging folder is under the test root
        write(target + ".hash", sha1)
        write(target + ".metadata", dump(meta))
        path = os.path.join(repo, "repo.metadata")
        try:
            with open(path) as f:
                repo_meta = json.load(f)
            if not isinstance(repo_meta.get("templates"), dict):
                raise ValueError("no templates")
        except (OSError, ValueError):
            repo_meta = {"templates": {}}
        repo_meta["name"] = "lago-tests"
        repo_meta["sources"] = {"local": {"type": "file", "args": {"root": repo}}}
        repo_meta["templates"][name] = {
            "versions": {
                version: {"source": "local", "handle": image, "timestamp": timestamp}
            }
        }
        write(path, dump(repo_meta))
        write(os.path.join(repo, ".inputs." + name), inputs + "\n")
    prune_store(os.path.join(os.path.dirname(os.path.abspath(repo)), "store"), name, version)
    print(sha1)


def open_files():
    """Every file some process holds open (we run as root)."""
    held = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fds = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fds):
                try:
                    held.add(os.readlink(os.path.join(fds, fd)))
                except OSError:
                    pass
        except OSError:
            pass
    return held


def prune_store(store, name, version):
    """Removes the other versions of template `name` from the test store."""
    prefix = f"lago-tests:{name}:"
    try:
        entries = os.listdir(store)
    except OSError:
        return
    sidecars = (".hash", ".metadata", ".lock", ".guest", ".tmp", ".tmp.raw", ".tmp.hash", ".tmp.metadata")
    images = [e for e in entries if e.startswith(prefix) and not e.endswith(sidecars)
              and e != prefix + version]
    if not images:
        return
    held = open_files()
    for image in images:
        path = os.path.join(store, image)
        if path in held:
            print(f"publish: keeping {path}: in use", file=sys.stderr)
            continue
        for suffix in ("",) + sidecars:
            try:
                os.remove(path + suffix)
            except FileNotFoundError:
                pass
        print(f"publish: removed old version {path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])

#!/usr/bin/env python3
"""One version, one place: Cargo.toml's `version` is the version of every package made from this
repository. The wheel reads it itself (maturin, `dynamic = ["version"]`); this script checks
(default) or writes (--write) it into the npm packages, the MCP bundle's manifest and server.json, and with --tag TAG
also checks a release tag (vX.Y.Z) against it. Exit 0 when all agree, 1 with each mismatch on
stderr, 2 on bad usage.

Usage: scripts/version.py [--write] [--tag vX.Y.Z]
"""
import json
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
NPM = REPO / "packaging" / "npm"


def cargo_version():
    text = (REPO / "Cargo.toml").read_text()
    match = re.search(r'(?m)^\[package\][^\[]*?^version = "([^"]+)"', text)
    if not match:
        sys.exit("version: no [package] version in Cargo.toml")
    return match.group(1)


def json_places():
    """(file, [(path of keys, value reader/writer)]) for every JSON file that carries it."""
    places = [(NPM / "mcp-elevenlabs" / "package.json", ["version"])]
    launcher = json.loads((NPM / "mcp-elevenlabs" / "package.json").read_text())
    for dep in sorted(launcher.get("optionalDependencies", {})):
        places.append((NPM / "mcp-elevenlabs" / "package.json", ["optionalDependencies", dep]))
    for pkg in sorted((NPM / "platform").glob("*/package.json")):
        places.append((pkg, ["version"]))
    places.append((REPO / "packaging" / "mcpb" / "manifest.json", ["version"]))
    places.append((REPO / "server.json", ["version"]))
    server = json.loads((REPO / "server.json").read_text())
    for i, _ in enumerate(server.get("packages", [])):
        places.append((REPO / "server.json", ["packages", i, "version"]))
    return places


def get(doc, keys):
    for k in keys:
        doc = doc[k]
    return doc


def put(doc, keys, value):
    for k in keys[:-1]:
        doc = doc[k]
    doc[keys[-1]] = value




def main(argv):
    write = "--write" in argv
    tag = None
    if "--tag" in argv:
        i = argv.index("--tag")
        if i + 1 >= len(argv):
            print(__doc__, file=sys.stderr)
            return 2
        tag = argv[i + 1]
    unknown = [a for a in argv if a not in ("--write", "--tag", tag)]
    if unknown:
        print(__doc__, file=sys.stderr)
        return 2
    version = cargo_version()
    wrong = []
    if tag is not None and tag != f"v{version}":
        wrong.append(f"the tag {tag} is not v{version} (Cargo.toml)")
    docs = {}
    for path, keys in json_places():
        doc = docs.setdefault(path, json.loads(path.read_text()))
        if get(doc, keys) != version:
            if write:
                put(doc, keys, version)
            else:
                where = ".".join(str(k) for k in keys)
                wrong.append(f"{path.relative_to(REPO)}: {where} is {get(doc, keys)!r}, not {version!r}")
    # The bundle's download URL names the version twice (tag and file).
    server = docs.get(REPO / "server.json") or json.loads((REPO / "server.json").read_text())
    for pkg in server.get("packages", []):
        if pkg.get("registryType") != "mcpb":
            continue
        url = pkg["identifier"]
        good = re.sub(r"/download/v[^/]+/mcp-elevenlabs-[^-/]+-", f"/download/v{version}/mcp-elevenlabs-{version}-", url)
        if good != url:
            if write:
                pkg["identifier"] = good
                docs[REPO / "server.json"] = server
            else:
                wrong.append(f"server.json: the bundle's URL {url} is not of {version}")
    if write:
        for path, doc in docs.items():
            path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    for line in wrong:
        print(f"version: {line}", file=sys.stderr)
    if wrong:
        print("version: run scripts/version.py --write to make them agree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

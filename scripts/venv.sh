#!/usr/bin/env bash
# Makes sure the project venv (<repo>/.venv) exists and holds these exact pins, then prints its
# interpreter's path. Idempotent: the venv is (re)created only when its interpreter is missing or
# broken, and pip runs only when a pin is missing. Messages go to stderr.
# Usage: py=$(scripts/venv.sh NAME==VERSION ...)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
py="$venv/bin/python"
[[ $# -gt 0 ]] || { echo "usage: scripts/venv.sh NAME==VERSION ..." >&2; exit 2; }

has_pins() {
    "$py" - "$@" >/dev/null 2>&1 <<'PY'
import importlib.metadata as m, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    assert m.version(name) == version
PY
}

if ! "$py" -c '' >/dev/null 2>&1; then
    python3 -m venv --clear "$venv"   # missing or broken interpreter: (re)create
fi
if ! has_pins "$@"; then
    "$py" -m pip install -q --disable-pip-version-check "$@" >&2
    has_pins "$@" || { echo "venv: $* not importable after install" >&2; exit 1; }
    echo "venv: installed $* into .venv" >&2
fi
echo "$py"

#!/usr/bin/env bash
# The layout rules of ARCHITECTURE.md, checked: (1) no source file in src/ over MAX_LINES lines
# before its `#[cfg(test)]` section (files named *tests.rs are test modules and exempt); (2) no
# module of the core imports upward: the leaves import no layer, tools import neither the
# service nor the session, the service does not import the session. Prints every offender.
# (3) every inherent `impl` block sits in the file that defines its type.
# Usage: scripts/layout.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MAX_LINES=${MAX_LINES:-600}
status=0

while IFS= read -r file; do
  case $file in *tests.rs) continue ;; esac
  n=$(awk '/^#\[cfg\(test\)\]/ { exit } { n++ } END { print n + 0 }' "$file")
  if [ "$n" -gt "$MAX_LINES" ]; then
    echo "layout: $file has $n lines before its tests (the limit is $MAX_LINES): split it" >&2
    status=1
  fi
done < <(find src -name '*.rs' | sort)

# Layers of src/core, lowest first, and what each may not name (as a path `x::` or `x;`).
forbid() {
  local what=$1 pattern=$2; shift 2
  local hits
  # Lines before each file's tests, without comments.
  hits=$(awk -v re="$pattern" '
    FNR == 1 { live = 1 }
    /^#\[cfg\(test\)\]/ { live = 0 }
    live && $0 !~ /^[[:space:]]*\/\// && $0 ~ re { print FILENAME ":" FNR ": " $0 }
  ' "$@")
  if [ -n "$hits" ]; then
    echo "layout: $what:" >&2
    echo "$hits" | sed 's/^/    /' >&2
    status=1
  fi
}
leaves=(src/core/{audio,config,elevenlabs,event,frame,httpdate,jsonrpc,speech}.rs src/core/settings/*.rs)
forbid "a leaf of the core names a layer above it" '(tools|service|session|server)::' "${leaves[@]}"
forbid "a tool reaches into the service or the session" '(service|session|server)::' src/core/tools/*.rs
forbid "the service reaches into the session" '(session|server)::' src/core/service/*.rs
forbid "the session reaches into the stdio server" '[^_]server::' src/core/session/*.rs

# An inherent `impl T` away from T's definition hides where T's fields change.
spread=$(for f in $(find src -name '*.rs' ! -name '*tests.rs' | sort); do
  awk '
    /^#\[cfg\(test\)\]/ { exit }
    /^(pub(\([a-z]+\))? )?(struct|enum) / {
      t = $0; sub(/^(pub(\([a-z]+\))? )?(struct|enum) /, "", t); sub(/[^A-Za-z0-9_].*/, "", t); defined[t] = 1
    }
    /^impl(<[^>]*>)? [A-Za-z_][A-Za-z0-9_:]*(<[^>]*>)? \{/ {
      t = $0; sub(/^impl(<[^>]*>)? /, "", t); sub(/[< {].*/, "", t); impls[t] = FNR
    }
    END { for (t in impls) if (!(t in defined)) print FILENAME ":" impls[t] ": impl " t }
  ' "$f"
done)
if [ -n "$spread" ]; then
  echo "layout: inherent impls away from their type's definition:" >&2
  echo "$spread" | sed 's/^/    /' >&2
  status=1
fi

[ "$status" -eq 0 ] && echo "    every file within $MAX_LINES lines; no upward imports in src/core"
exit "$status"

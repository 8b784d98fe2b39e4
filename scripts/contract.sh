#!/usr/bin/env bash
# Contract check: every request kind the client sends (all tools, the CLI commands, each output
# format) against `prism mock` serving the official ElevenLabs OpenAPI spec. Any request Prism
# rejects (422 / sl-violations) fails the check.
# Usage: scripts/contract.sh [path/to/mcp-elevenlabs]   (default: target/debug/mcp-elevenlabs)
# Idempotent and quiet: Prism is installed into <repo>/.prism (git-ignored) only when that exact
# version is missing. Prism's log and the full report land in target/contract/.
# Env: PRISM_START_TIMEOUT (seconds, default 120; Prism takes ~16-40 s to load the 3.5 MB spec).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# The newest Prism that runs on Node 18/20 (5.15+ needs Node >= 24.14).
prism_version="5.14.2"
prism_dir="$repo/.prism"
prism="$prism_dir/node_modules/.bin/prism"
spec="vendor-schemas/elevenlabs/openapi.json"
binary="${1:-target/debug/mcp-elevenlabs}"
out="$repo/target/contract"
log="$out/prism.log"
report="$out/report.txt"
start_timeout="${PRISM_START_TIMEOUT:-120}"
started=$(date +%s)

die() { echo "contract: $*" >&2; exit 1; }

for tool in node npm python3 curl; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x "$binary" ]] || die "server binary not found or not executable: $binary (run cargo build)"

vendor-schemas/sync
[[ -f "$spec" ]] || die "$spec missing after vendor-schemas/sync"

installed_version() {
    node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' \
        "$prism_dir/node_modules/@stoplight/prism-cli/package.json" 2>/dev/null
}
if [[ "$(installed_version)" != "$prism_version" || ! -x "$prism" ]]; then
    mkdir -p "$prism_dir"
    npm install --prefix "$prism_dir" --no-audit --no-fund --silent --save-exact \
        "@stoplight/prism-cli@$prism_version" >/dev/null
    [[ "$(installed_version)" == "$prism_version" && -x "$prism" ]] \
        || die "@stoplight/prism-cli@$prism_version did not install into .prism"
    echo "contract: installed @stoplight/prism-cli@$prism_version into .prism"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
mkdir -p "$out"
rm -f "$report"

prism_pid=""
stop_prism() {
    [[ -n "$prism_pid" ]] || return 0
    kill "$prism_pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$prism_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$prism_pid" 2>/dev/null || true
    wait "$prism_pid" 2>/dev/null || true
    prism_pid=""
}
trap stop_prism EXIT
trap 'exit 130' INT TERM

"$prism" mock -h 127.0.0.1 -p "$port" "$spec" >"$log" 2>&1 </dev/null &
prism_pid=$!

deadline=$(( $(date +%s) + start_timeout ))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/v1/models" || true)" == 200 ]]; do
    if ! kill -0 "$prism_pid" 2>/dev/null; then
        tail -n 20 "$log" >&2
        die "prism exited before answering (log: $log)"
    fi
    if (( $(date +%s) >= deadline )); then
        tail -n 20 "$log" >&2
        die "prism did not answer on $url within $start_timeout s (log: $log)"
    fi
    sleep 0.5
done
ready=$(( $(date +%s) - started ))

summary=$(python3 tests/python/contract.py "$binary" "$url" "$log" "$report") \
    || die "driver failed (report: $report, Prism log: $log)"

# Independent of the driver: nothing in Prism's whole log may be a rejected request.
sleep 0.2
requests=$(grep -c 'Request received' "$log" || true)
rejected=$(grep -c 'Responding with "422"' "$log" || true)
violations=$(grep -cE 'Violation: |did not pass the validation rules' "$log" || true)
tts=$(grep -cE '\] post /v1/text-to-speech/[^ ]+/stream .*Request received' "$log" || true)
if (( rejected > 0 || violations > 0 )); then
    grep -nE 'Request received|Responding with "422"|Violation: |did not pass the validation rules' "$log" \
        | grep -B1 -E '422|Violation|did not pass' >&2 || true
    die "Prism rejected requests: $rejected answered 422, $violations violation line(s) (log: $log)"
fi
(( tts >= 28 )) || die "only $tts text-to-speech requests reached Prism (expected >= 28, one per output format)"

echo "contract: prism $prism_version ready in ${ready} s; $summary; Prism log: $requests requests, 0 violations ($(( $(date +%s) - started )) s)"

#!/usr/bin/env bash
# Regenerates the tone model embedded in src/core/emotion/ (lexicon.bin, model.bin) from
# ../shared/emotion/train.tsv and the VADER lexicon (vaderSentiment 3.3.2 from PyPI, MIT), with
# the same feature code the server runs (examples/train_emotion.rs). Deterministic: the result
# must match src/core/emotion/SHA256SUMS.
# Usage: scripts/emotion/train.sh [--check]   (--check: train into a temporary directory and
#        compare with the committed files; nothing is written)
#        scripts/emotion/train.sh --validate  (the held-out figures from train.tsv alone)
# Env: EMOTION_DATA (default ../shared/emotion, else /work/shared/emotion)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data=${EMOTION_DATA:-}
if [ -z "$data" ]; then
  for d in ../shared/emotion /work/shared/emotion; do
    [ -f "$d/train.tsv" ] && { data=$d; break; }
  done
fi
[ -f "$data/train.tsv" ] ||
  { echo "train.sh: no train.tsv (set EMOTION_DATA); it ships in the workplace's shared/emotion" >&2; exit 1; }
vader_sha=1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5
tools=.tools/vader-3.3.2
lexicon=$tools/vaderSentiment/vader_lexicon.txt

if ! echo "$vader_sha  $lexicon" | sha256sum -c --status 2>/dev/null; then
  rm -rf "$tools" && mkdir -p "$tools"
  # A venv of its own for pip (Debian's python3 may have none).
  [ -x .tools/pip-venv/bin/python ] || python3 -m venv .tools/pip-venv
  .tools/pip-venv/bin/python -m pip download -q --disable-pip-version-check --no-deps \
    --only-binary=:all: -d "$tools" vaderSentiment==3.3.2 >&2
  python3 -m zipfile -e "$tools"/vaderSentiment-3.3.2-*.whl "$tools"
  echo "$vader_sha  $lexicon" | sha256sum -c --status ||
    { echo "train.sh: vader_lexicon.txt of vaderSentiment 3.3.2 is not the expected file" >&2; exit 1; }
fi

cargo build --locked --release -q --example train_emotion
run() { target/release/examples/train_emotion --train "$data/train.tsv" --vader "$lexicon" "$@"; }
case "${1:-}" in
  --validate) run --validate ;;
  --check)
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    run --out "$out" 2>/dev/null
    (cd "$out" && sha256sum -c --quiet "$OLDPWD/src/core/emotion/SHA256SUMS") ||
      { echo "train.sh: retraining does not reproduce src/core/emotion/*.bin" >&2; exit 1; }
    echo "    retrained: lexicon.bin and model.bin match src/core/emotion/SHA256SUMS"
    ;;
  "")
    run --out src/core/emotion
    (cd src/core/emotion && sha256sum lexicon.bin model.bin >SHA256SUMS && cat SHA256SUMS)
    ;;
  *) echo "usage: scripts/emotion/train.sh [--check|--validate]" >&2; exit 2 ;;
esac

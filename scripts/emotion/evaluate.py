#!/usr/bin/env python3
"""Scores the tone analysis on a labelled TSV (text, label, is_question, ...) through the
binary's own `analyze` (one text per line on stdin, one JSON object per line out), so the
figures are those of what ships. Prints accuracy, macro-F1, each class's precision and recall,
and the question detection's accuracy.

Usage: scripts/emotion/evaluate.py FILE.tsv [BINARY]   (BINARY: target/release/mcp-elevenlabs)
"""
import json
import subprocess
import sys

TONES = ["neutral", "happy", "sad", "urgent"]


def unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            out.append({"t": "\t", "n": "\n"}.get(n, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/mcp-elevenlabs"
    rows = []
    with open(sys.argv[1], encoding="utf-8") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            rows.append((unescape(cols[0]), cols[1], cols[2] == "1"))
    # One text per line: a text's own newlines become spaces (the analysis ignores whitespace).
    stdin = "".join(t.replace("\n", " ").replace("\r", " ") + "\n" for t, _, _ in rows)
    env = {"MCP_ELEVENLABS_CONFIG": "/nonexistent/config.yaml", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([binary, "analyze"], input=stdin, capture_output=True, text=True,
                         check=True, env=env).stdout.splitlines()
    assert len(out) == len(rows), f"{len(out)} answers for {len(rows)} texts"
    got = [json.loads(o) for o in out]
    confusion = {(a, b): 0 for a in TONES for b in TONES}
    questions = 0
    for (_, label, question), g in zip(rows, got):
        confusion[(label, g["tone"])] += 1
        questions += g["question"] == question
    right = sum(confusion[(t, t)] for t in TONES)
    print(f"{sys.argv[1]}: {len(rows)} texts")
    print(f"accuracy {right / len(rows):.3f}")
    f1s = []
    for t in TONES:
        tp = confusion[(t, t)]
        predicted = sum(confusion[(o, t)] for o in TONES)
        actual = sum(confusion[(t, o)] for o in TONES)
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        f1s.append(f)
        print(f"  {t:>8}: precision {p:.3f} recall {r:.3f} F1 {f:.3f}")
    print(f"macro-F1 {sum(f1s) / len(f1s):.3f}")
    print(f"question detection accuracy {questions / len(rows):.3f}")


if __name__ == "__main__":
    main()

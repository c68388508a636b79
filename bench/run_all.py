"""Run every benchmark in bench/ and print one table: benchmark, figure, target, met.

    .venv/bin/python bench/run_all.py                      # everything (what `make bench` runs)
    .venv/bin/python bench/run_all.py --quick              # smaller runs, a few minutes
    .venv/bin/python bench/run_all.py --only inbox,campaign
    .venv/bin/python bench/run_all.py --list

Each script `bench/bench_*.py` prints, as its LAST line, `BENCH_RESULT {json}`. The table reads:

* `rows`: a list of {"benchmark", "figure", "target", "met"}, taken as they are; else
* `targets_met` ({key: bool}) with `targets` ({key: text}): one row per key, the figure being
  the result's value under that key (or a key ending with it); else
* `target` (text) and `target_met` (bool): one row, the figure being `figure` or the first of
  a few usual keys (worst_p95_ms, p95_ms, p99_ms, ratio, rps, msgs_per_s);
* `load_run` ({"errors": n, ...}), e.g. the 200-client, 60 s webhook run: a row of its own.

A script that fails, times out or prints no BENCH_RESULT gets a row saying so, and the exit
status is 1. `--quick` passes the script's own `--quick` when it has one, else the smaller
arguments in QUICK_ARGS below.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The order they run in; any other bench_*.py found is run after these.
ORDER = [
    "client_pool",
    "status_webhook",
    "inbound_webhook",
    "campaign",
    "inbox",
    "dashboard",
]
# Always passed: the webhook benches add the 200-client, 60 s load run (zero errors expected).
DEFAULT_ARGS = {
    "status_webhook": ["--load-run"],
    "inbound_webhook": ["--load-run"],
}
QUICK_ARGS = {
    "client_pool": ["--count", "1000"],
    "status_webhook": ["--seconds", "3", "--rounds", "1", "--load-seconds", "10"],
    "inbound_webhook": [
        "--seconds",
        "3",
        "--rounds",
        "1",
        "--customers",
        "1000",
        "--load-seconds",
        "10",
    ],
    "campaign": ["--recipients", "5000", "--seed-count", "200"],
    "inbox": ["--repeat", "10", "--warmup", "2"],
    "dashboard": ["--repeat", "10", "--warmup", "2"],
}
FIGURE_KEYS = ("figure", "worst_p95_ms", "p95_ms", "p99_ms", "ratio", "rps", "msgs_per_s")
# Shown beside the headline figure when a result has them.
SIDE_FIGURES = ("webhook_rps", "webhook_p99_ms", "bare_rps", "cpu_ratio")
RESULT_PREFIX = "BENCH_RESULT "


def available():
    found = {p.stem.removeprefix("bench_"): p for p in sorted(BENCH.glob("bench_*.py"))}
    names = [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER)
    return {name: found[name] for name in names}


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model or "unknown",
        "load_average": " ".join(f"{value:.2f}" for value in load),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def command_for(script, quick, extra):
    command = [sys.executable, str(script), *DEFAULT_ARGS.get(_name(script), [])]
    if quick:
        source = script.read_text(errors="replace")
        command += ["--quick"] if '"--quick"' in source else QUICK_ARGS.get(_name(script), [])
    return command + extra


def _name(script):
    return script.stem.removeprefix("bench_")


def run(script, *, quick, extra, timeout):
    """(result dict or None, problem text or None, seconds); the script's output goes through."""
    command = command_for(script, quick, extra)
    print(f"\n=== {_name(script)}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    last = ""
    try:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = started + timeout
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.strip():
                last = line.strip()
            if time.monotonic() > deadline:
                process.kill()
                break
        code = process.wait()
    except OSError as exc:
        return None, f"could not start: {exc}", time.monotonic() - started
    seconds = time.monotonic() - started
    if seconds > timeout:
        return None, f"timed out after {timeout:g} s", seconds
    if code != 0:
        return _parse(last)[0], f"exited with {code}", seconds
    result, problem = _parse(last)
    return result, problem, seconds


def _parse(last_line):
    if not last_line.startswith(RESULT_PREFIX):
        return None, "no BENCH_RESULT line at the end"
    try:
        result = json.loads(last_line[len(RESULT_PREFIX) :])
    except ValueError as exc:
        return None, f"BENCH_RESULT is not JSON: {exc}"
    if not isinstance(result, dict):
        return None, "BENCH_RESULT is not a JSON object"
    return result, None


def rows_of(name, result):
    """[(benchmark, figure, target, met)] for one script's result."""
    if isinstance(result.get("rows"), list):
        return [
            (
                str(row.get("benchmark", name)),
                _text(row.get("figure")),
                _text(row.get("target")),
                row.get("met"),
            )
            for row in result["rows"]
            if isinstance(row, dict)
        ]
    rows = []
    if isinstance(result.get("targets_met"), dict):
        targets = result.get("targets") if isinstance(result.get("targets"), dict) else {}
        for key, met in result["targets_met"].items():
            rows.append(
                (f"{name}: {key}", _text(_figure(result, key)), _text(targets.get(key)), met)
            )
    elif "target_met" in result or "target" in result:
        figure = _text(next((result[k] for k in FIGURE_KEYS if k in result), None))
        label = next((k for k in FIGURE_KEYS if k in result), "")
        side = [f"{k} {_text(result[k])}" for k in SIDE_FIGURES if k in result]
        figure = ", ".join([figure, *side]) if side else figure
        rows.append(
            (
                f"{name}{': ' + label if label else ''}",
                figure,
                _text(result.get("target")),
                result.get("target_met"),
            )
        )
    load = result.get("load_run")
    if isinstance(load, dict):
        errors = load.get("errors", load.get("non_2xx"))
        clients = load.get("connections", load.get("clients", "?"))
        seconds = load.get("seconds", "?")
        rows.append(
            (
                f"{name}: load run {clients} clients x {seconds} s",
                f"{errors} errors, {_text(load.get('rps'))} req/s",
                "0 errors",
                errors == 0 if isinstance(errors, int) else None,
            )
        )
    if not rows:
        rows.append(
            (name, _text({k: v for k, v in result.items() if k != "machine"})[:60], "", None)
        )
    return rows


def _figure(result, key):
    if key in result:
        return result[key]
    for name, value in result.items():
        if name.endswith(key) and not isinstance(value, dict | list):
            return value
    return None


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def table(rows):
    header = ("benchmark", "figure", "target", "met?")
    cells = [header] + [(b, f, t, _met(m)) for b, f, t, m in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _met(value):
    return {True: "yes", False: "NO"}.get(value, "?")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated names (see --list)")
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    parser.add_argument("--json", help="also write the rows and the machine to this file")
    args, extra = parser.parse_known_args(argv)
    scripts = available()
    if args.list:
        print("\n".join(scripts))
        return 0
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(scripts)
    unknown = [n for n in chosen if n not in scripts]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(scripts)}")

    before = machine()
    rows, failed = [], False
    for name in chosen:
        result, problem, seconds = run(
            scripts[name], quick=args.quick, extra=extra, timeout=args.timeout
        )
        if result is not None:
            rows += rows_of(name, result)
        if problem is not None:
            failed = True
            rows.append((name, f"failed after {seconds:.0f} s", problem, False))
    after = machine()
    print("\n" + table(rows))
    print(
        f"\nmachine: {before['nproc']} x {before['cpu']}, {before['system']}, "
        f"Python {before['python']}; load average {before['load_average']} at the start, "
        f"{after['load_average']} at the end; {before['date']} to {after['date']}"
        + (" (quick mode)" if args.quick else "")
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "machine": before, "quick": args.quick}, indent=2)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

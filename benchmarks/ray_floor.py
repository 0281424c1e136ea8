"""How close local-ray can come to local-process on montecarlo-pi here: the floor ray sets.

    python -m benchmarks.ray_floor [--repetitions 5] [--rows 128] [--samples 10000000]

Each repetition runs the montecarlo-pi workload three times, each in a fresh process, in an
order that rotates from one repetition to the next:

- ``local-process``;
- ``floor``: local-process again, with ``workloads/ray_beside.py`` started with its rows.
  That script starts everything a local-ray run starts on top of local-process (enb's ray
  head, a driver connection, one worker per CPU slot with the imports of a montecarlo-pi
  worker) and runs no row. Ray's start-up then overlaps the rows perfectly, which a
  local-ray run cannot do: its rows wait until ray serves them;
- ``local-ray``.

``floor / local-process`` is what ray's own processes cost the run when no row waits for
them. No scheduling inside enb brings local-ray below it: only running fewer of ray's
processes would. (A floor only while the rows outlast ray's start-up, ~1.5 s here: the floor
run also waits for its helper to finish. Tiny runs, as in the tests, check the mechanics.)
Writes ``latest.json`` and ``latest.md`` into ``--output-dir``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

from . import implementations as impls
from . import machine
from .plan import MODES, Step, Workload
from .report import summary
from .run import log, run_workload, snapshot_workloads

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ray-floor"
#: name -> (executor, extra workload parameters)
VARIANTS = {"local-process": ("local-process", {}),
            "floor": ("local-process", {"ray_beside": True}),
            "local-ray": ("local-ray", {})}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ray_floor",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5, metavar="N")
    parser.add_argument("--rows", type=int, default=128, help="montecarlo-pi rows (128)")
    parser.add_argument("--samples", type=int, default=10_000_000,
                        help="samples per row (10,000,000)")
    parser.add_argument("--python", help="interpreter for ours (default: this one)")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--timeout", type=float, default=900, metavar="SECONDS",
                        help="per run (900)")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, scratch: Path) -> dict:
    """Run the repetitions; return the document written as latest.json."""
    ours = impls.ours(impls.snapshot_ours(scratch / "ours", args.python), args.python)
    snapshot_workloads(scratch)
    sizes = MODES["full"]  # unused by these steps; --timeout bounds each run
    run_args = types.SimpleNamespace(cluster_csv=None, ours_args=[], timeout=args.timeout)
    document = {"command": "python -m benchmarks.ray_floor " + " ".join(sys.argv[1:]),
                "rows": args.rows, "samples": args.samples,
                "machine": machine.describe(impls.REPO_ROOT), "runs": []}
    names = list(VARIANTS)
    for rep in range(1, args.repetitions + 1):
        log(f"repetition {rep}/{args.repetitions}")
        order = names[(rep - 1) % len(names):] + names[:(rep - 1) % len(names)]
        for name in order:
            executor, extra = VARIANTS[name]
            params = {"rows": args.rows, "samples": args.samples, **extra}
            workload = Workload("montecarlo-pi", name, lambda _sizes, _impl, p=params, n=name: (
                Step(n, "montecarlo_pi.py", p),))
            record = run_workload(workload, ours, executor, rep, run_args, sizes, scratch)
            record["variant"] = name
            document["runs"].append(record)
    document["machine"]["load_average_end"] = machine.load_average()
    return document


def summarize(document: dict) -> dict:
    """Add medians per variant and per-repetition ratios to local-process."""
    wall = {}  # variant -> {rep: seconds}
    errors = []
    for run in document["runs"]:
        if run["ok"]:
            step = next(iter(run["steps"].values()))
            wall.setdefault(run["variant"], {})[run["rep"]] = step["measurements"][
                "outside_wall_s"]
        else:
            errors.append(f"{run['variant']}, repetition {run['rep']}: {run['error']}")
    reference = wall.get("local-process", {})
    document["wall_s"] = {name: summary(list(wall.get(name, {}).values())) for name in VARIANTS}
    document["vs_local_process"] = {
        name: summary([seconds / reference[rep] for rep, seconds in wall.get(name, {}).items()
                        if rep in reference])
        for name in VARIANTS if name != "local-process"}
    document["errors"] = errors
    return document


def markdown(document: dict) -> str:
    m = document["machine"]
    lines = [f"# montecarlo-pi: the floor ray sets for local-ray ({document['rows']} rows of "
             f"{document['samples']:,} samples)", "",
             f"`{document['command']}` on {m['cores']} cores ({m['cpu_model']}), "
             f"{m['date']}, git {m['git'].get('commit', '?')[:10]}; load average "
             f"{m['load_average_start'][0]:.1f} at the start, "
             f"{m['load_average_end'][0]:.1f} at the end.", "",
             "| run | whole process (s), median [min-max] | / local-process, same repetition |",
             "|---|---|---|"]
    for name in VARIANTS:
        wall = document["wall_s"][name]
        ratio = document["vs_local_process"].get(name, {})
        cell = (f"{wall['median']:.2f} [{wall['min']:.2f}-{wall['max']:.2f}]" if "median" in wall
                else "no measurement")
        rcell = (f"{ratio['median']:.3f} [{ratio['min']:.3f}-{ratio['max']:.3f}]"
                 if "median" in ratio
                 else ("-" if name == "local-process" else "no measurement"))
        lines.append(f"| {name} | {cell} | {rcell} |")
    lines += ["", "floor: local-process with everything a local-ray run adds (ray's head, "
              "the driver connection, a worker per slot with its imports) started beside "
              "its rows (benchmarks/workloads/ray_beside.py). No local-ray run can beat it, "
              "as long as its rows outlast ray's start-up: a local-ray run's rows wait for "
              "ray."]
    lines += [f"- error: {error}" for error in document["errors"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    scratch = Path(tempfile.mkdtemp(prefix="enb-ray-floor-"))
    try:
        document = summarize(measure(args, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    document["duration_s"] = time.time() - started
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "latest.json").write_text(json.dumps(document, indent=1) + "\n",
                                                 encoding="utf-8")
    text = markdown(document)
    (args.output_dir / "latest.md").write_text(text, encoding="utf-8")
    print(text)
    return 1 if document["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark runner: ``python -m benchmarks [--quick | --smoke] [options]``.

For each repetition and each workload it runs ours on every available executor, then
enb 1.1.3, then the ideal, each step in a fresh process with its own temporary work
folder, so that machine noise hits all of them alike. Then it writes
``results/latest.json`` and ``results/latest.md`` and prints the Markdown.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import implementations as impls
from . import machine, process, report
from .plan import EXECUTORS, MODES, WORKLOADS, Workload


WORKLOAD_SCRIPTS = Path(__file__).resolve().parent / "workloads"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure this checkout's enb against enb 1.1.3 and the ideal.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="small workloads, 3 repetitions, no enb 1.1.3 unless --enb113 "
                           "(under 2 minutes)")
    size.add_argument("--smoke", action="store_true",
                      help="tiny workloads, 1 repetition, no enb 1.1.3: checks the suite runs")
    parser.add_argument("--repetitions", type=int, metavar="N",
                        help="override the mode's repetitions (full 5, quick 3, smoke 1)")
    enb113 = parser.add_mutually_exclusive_group()
    enb113.add_argument("--enb113", dest="enb113", action="store_true", default=None,
                        help="include enb 1.1.3 (default in a full run)")
    enb113.add_argument("--no-enb113", dest="enb113", action="store_false",
                        help="leave enb 1.1.3 out")
    parser.add_argument("--enb113-python", metavar="PYTHON",
                        help="an interpreter that already imports enb 1.1.3 (default: a venv "
                             "cached in ~/.cache/enb-bench/venv-enb113, created on first use)")
    parser.add_argument("--python", metavar="PYTHON",
                        help="interpreter for ours and the ideal (default: this one)")
    parser.add_argument("--executor", dest="executors", action="append", choices=EXECUTORS,
                        help="measure ours on this executor only (repeatable; default: all)")
    parser.add_argument("--workload", dest="workloads", action="append",
                        choices=[w.name for w in WORKLOADS],
                        help="run this workload only (repeatable; default: all)")
    parser.add_argument("--cluster-csv", metavar="CSV",
                        help="enb_cluster.csv for the ssh-ray-cluster executor (without it, "
                             "ssh-ray-cluster is skipped)")
    parser.add_argument("--ours-arg", dest="ours_args", action="append", default=[],
                        metavar="ARG", help="pass ARG to ours' workload scripts (repeatable; "
                                            "write --ours-arg=--flag for a flag)")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where latest.json and latest.md go (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--scratch-dir", type=Path, metavar="DIR",
                        help="where the steps' temporary work folders go (default: the system's "
                             "temporary folder); cluster nodes must be able to mount it")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="per-step timeout (default: the mode's)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def executor_status(ours: impls.Implementation, wanted: list[str],
                    cluster_csv: str | None) -> dict:
    """Return {executor: {"available": bool, "reason": ...}} for every executor."""
    status = {}
    try:
        ray = {"available": True, "ray": impls.ray_version(ours)}
    except impls.Unavailable as error:
        ray = {"available": False, "reason": str(error)}
    for name in EXECUTORS:
        if name not in wanted:
            status[name] = {"available": False, "reason": "not selected (--executor)"}
        elif name == "local-process":
            status[name] = {"available": True}
        elif not ray["available"]:
            status[name] = dict(ray)
        elif name == "ssh-ray-cluster" and not cluster_csv:
            status[name] = {"available": False, "reason": "no --cluster-csv given"}
        elif name == "ssh-ray-cluster" and not Path(cluster_csv).is_file():
            status[name] = {"available": False, "reason": f"{cluster_csv} is not a file"}
        else:
            status[name] = dict(ray)
    return status


def snapshot_workloads(scratch: Path) -> Path:
    """Copy the workload scripts into ``scratch`` once, as enb is (edits during a run stay out)."""
    into = scratch / "workloads"
    into.mkdir(parents=True, exist_ok=True)
    for script in WORKLOAD_SCRIPTS.glob("*.py"):
        shutil.copy(script, into / script.name)
    return into


def run_workload(workload: Workload, impl: impls.Implementation, executor: str | None,
                 rep: int, args: argparse.Namespace, sizes, scratch: Path) -> dict:
    """Run every step of ``workload`` for ``impl`` in one fresh work folder; return the record.

    The scripts come from ``scratch``'s :func:`snapshot_workloads`.
    """
    record = {"rep": rep, "impl": impl.key, "workload": workload.name, "executor": executor,
              "ok": True, "error": None, "steps": {}}
    workdir = Path(tempfile.mkdtemp(prefix=f"{workload.name}-{impl.key}-", dir=scratch))
    workdir.chmod(0o755)
    try:
        for script in (scratch / "workloads").glob("*.py"):  # see snapshot_workloads
            shutil.copy(script, workdir / script.name)
        # An empty user configuration: an ~/.config/enb/enb.ini must not change what runs.
        env = {**impl.env_for(executor), "XDG_CONFIG_HOME": str(scratch / "config")}
        for step in workload.steps(sizes, impl.key):
            outcome = process.run_script(
                impl.python, workdir / step.script,
                impl.argv(executor, args.cluster_csv) + (
                    args.ours_args if impl.key == "ours" else []),
                {**step.params, "impl": impl.impl_param}, env, workdir,
                timeout_s=args.timeout or sizes.step_timeout_s, label=step.label)
            measurements = dict(outcome.measurements)
            measurements.update(outside_wall_s=outcome.wall_s,
                                outside_peak_rss_mb=outcome.peak_rss_mb,
                                outside_cpu_s=outcome.cpu_s,
                                session_peak_rss_mb=outcome.session_peak_rss_mb)
            record["steps"][step.label] = {"measurements": measurements,
                                           "returncode": outcome.returncode,
                                           "leftovers": outcome.leftovers,
                                           "lingered_s": outcome.lingered_s}
            status = "ok" if outcome.ok else "FAILED: " + outcome.error.splitlines()[0][:160]
            log(f"  [{rep}] {workload.name:<13} {impl.key:<6} {executor or '-':<15} "
                f"{step.label:<6} {outcome.wall_s:7.2f} s  {status}")
            if outcome.leftovers:
                log(f"      left {len(outcome.leftovers)} processes running "
                    f"{process.LEFTOVER_GRACE_S:.0f} s after it exited (ended them)")
            elif outcome.lingered_s and outcome.lingered_s > 1:
                log(f"      its processes ended {outcome.lingered_s:.1f} s after it exited")
            if not outcome.ok:
                record["ok"] = False
                record["error"] = f"{step.label}: {outcome.error}"
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cluster_csv:  # the scripts run in a work folder: make the path absolute
        args.cluster_csv = str(Path(args.cluster_csv).resolve())
    args.command = "python -m benchmarks " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    if args.scratch_dir:
        args.scratch_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="enb-bench-", dir=args.scratch_dir))
    scratch.chmod(0o755)  # remote nodes may read it as other users
    try:
        return _run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _enb113(args: argparse.Namespace, mode: str, wanted: bool):
    """Return enb 1.1.3's implementation (None when left out) and its description."""
    if not wanted:
        return None, {"skipped": f"left out ({mode} mode; add --enb113)"
                      if args.enb113 is None else "left out (--no-enb113)"}
    try:
        theirs = impls.enb113(args.enb113_python or impls.ensure_enb113(log))
    except impls.Unavailable as error:
        log(f"enb 1.1.3 skipped: {error}")
        return None, {"skipped": str(error)}
    return theirs, impls.describe(theirs)


def _run(args: argparse.Namespace, scratch: Path) -> int:
    started = time.time()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    sizes = MODES[mode]
    repetitions = args.repetitions or sizes.repetitions
    with_enb113 = args.enb113 if args.enb113 is not None else mode == "full"

    ours = impls.ours(impls.snapshot_ours(scratch / "ours", args.python), args.python)
    snapshot_workloads(scratch)
    ideal = impls.ideal(args.python)
    implementations = {"ours": impls.describe(ours), "ideal": impls.describe(ideal)}
    implementations["ours"].pop("enb", None)  # metadata of some installed enb, not this checkout
    theirs, implementations["enb113"] = _enb113(args, mode, with_enb113)

    executors = executor_status(ours, args.executors or list(EXECUTORS), args.cluster_csv)
    for name, status in executors.items():
        if not status["available"]:
            log(f"executor {name} skipped: {status['reason']}")
    available = [name for name, status in executors.items() if status["available"]]
    workloads = [w for w in WORKLOADS if not args.workloads or w.name in args.workloads]

    document = {
        "suite": {"mode": mode, "repetitions": repetitions, "command": args.command,
                  "sizes": {k: v for k, v in vars(sizes).items() if k != "repetitions"},
                  "interrupted": False},
        "machine": machine.describe(impls.REPO_ROOT),
        "implementations": implementations,
        "executors": executors,
    }
    runs: list[dict] = []
    budget = sizes.time_budget_s if args.repetitions is None else None
    loop_started = time.time()
    try:
        for rep in range(1, repetitions + 1):
            elapsed = time.time() - started
            per_rep = (time.time() - loop_started) / max(1, rep - 1)
            if budget and rep > 1 and elapsed + per_rep > budget:
                document["suite"]["stopped_early"] = (
                    f"{rep - 1} of {repetitions} repetitions: another would pass the "
                    f"{budget:.0f} s budget of a {mode} run")
                log(f"stopping: {document['suite']['stopped_early']}")
                break
            document["suite"]["repetitions_done"] = rep
            log(f"repetition {rep}/{repetitions}")
            for workload in workloads:
                mine = [e for e in available if e in (workload.executors or EXECUTORS)]
                if not mine:
                    continue  # every executor it needs is skipped; the report says why
                for executor in (mine if workload.per_executor else [None]):
                    runs.append(run_workload(workload, ours, executor, rep, args, sizes, scratch))
                if theirs is not None and not workload.enb113_skip:
                    runs.append(run_workload(workload, theirs, None, rep, args, sizes, scratch))
                if workload.has_ideal:
                    runs.append(run_workload(workload, ideal, None, rep, args, sizes, scratch))
    except KeyboardInterrupt:
        document["suite"]["interrupted"] = True
        log("interrupted: writing partial results")

    document["suite"]["duration_s"] = time.time() - started
    document["machine"]["load_average_end"] = machine.load_average()
    document["results"] = report.summarize(runs, executors, implementations,
                                           [w.name for w in workloads])
    document["runs"] = runs
    json_path, md_path = report.write(document, args.output_dir)
    print(report.markdown(document))
    log(f"wrote {json_path} and {md_path} ({document['suite']['duration_s']:.0f} s)")
    return 130 if document["suite"]["interrupted"] else 0

"""Turn the raw runs into summaries (median, min, max), ratios and targets; write JSON and Markdown."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from .plan import METRICS, WORKLOADS, Metric

_WORKLOADS = {w.name: w for w in WORKLOADS}


# ---------------------------------------------------------------- summaries

def summary(values: list[float], errors: list[str] = ()) -> dict:
    """Return median/min/max of ``values``; with none, the first error as the reason."""
    if not values:
        return {"error": errors[0] if errors else "no measurement"}
    result = {"median": statistics.median(values), "min": min(values), "max": max(values),
              "n": len(values), "samples": values}
    if errors:
        result["errors"] = errors
    return result


def _values(metric: Metric, runs: list[dict], getter) -> tuple[list[float], list[str]]:
    values, errors = [], []
    for run in runs:
        if not run["ok"]:
            errors.append(run["error"])
            continue
        steps = {label: step["measurements"] for label, step in run["steps"].items()}
        try:
            value = getter(steps)
        except (KeyError, TypeError, ZeroDivisionError) as error:
            errors.append(f"{metric.key}: measurement missing ({type(error).__name__}: {error})")
            continue
        if value is None:
            errors.append(f"{metric.key}: not measured")
        else:
            values.append(float(value))
    return values, errors


def _relative_values(metric: Metric, runs: list[dict], reference: list[dict]):
    """Per repetition: ours on this executor / ours on the reference executor."""
    by_rep = {run["rep"]: run for run in reference}
    values, errors = [], []
    for run in runs:
        ref = by_rep.get(run["rep"])
        if ref is None:
            errors.append(f"no {metric.relative_to} run in repetition {run['rep']}")
            continue
        ref_values, ref_errors = _values(metric, [ref], metric.value)
        run_values, run_errors = _values(metric, [run], metric.value)
        if run_errors or ref_errors:
            errors += run_errors + [f"{metric.relative_to}: {e}" for e in ref_errors]
            continue
        values.append(run_values[0] / ref_values[0])
    return values, errors


def _better_factor(metric: Metric, ours: float | None, other: float | None) -> float | None:
    """How many times better ours is than ``other`` (> 1: ours is better)."""
    if not ours or not other:
        return None
    return ours / other if metric.higher_is_better else other / ours


def summarize(runs: list[dict], executors: dict, implementations: dict,
              workloads: list[str]) -> list[dict]:
    """Return one result per (metric, executor) that applies, with ratios and targets.

    ``workloads`` are the names selected for this run; metrics of others are left out.
    """
    results = []
    for metric in METRICS:
        workload = _WORKLOADS[metric.workload]
        if workload.name not in workloads:
            continue
        if not workload.per_executor:
            executor_list = [None]
        else:
            executor_list = [e for e in (workload.executors or executors)
                             if e != metric.relative_to]
        of_workload = [r for r in runs if r["workload"] == workload.name]
        theirs = _theirs(metric, workload, of_workload, implementations)
        ideal = _ideal(metric, of_workload)
        for executor in executor_list:
            ours = _ours(metric, executor, of_workload, executors)
            result = {"metric": metric.key, "workload": metric.key.split(".")[0],
                      "label": metric.label, "unit": metric.unit,
                      "higher_is_better": metric.higher_is_better,
                      "executor": executor or "any", "ours": ours, "enb113": theirs,
                      "ideal": ideal}
            result.update(_judge(metric, executor, ours.get("median"), theirs.get("median"),
                                 ideal.get("median")))
            results.append(result)
    return results


def _ours(metric: Metric, executor: str | None, runs: list[dict], executors: dict) -> dict:
    if executor and not executors[executor]["available"]:
        return {"skipped": executors[executor]["reason"]}
    mine = [r for r in runs if r["impl"] == "ours" and r["executor"] == executor]
    if not mine:
        return {"skipped": "not run (see the command line)"}
    if not metric.relative_to:
        return summary(*_values(metric, mine, metric.value))
    if not executors[metric.relative_to]["available"]:
        return {"skipped": f"{metric.relative_to} not measured"}
    reference = [r for r in runs if r["impl"] == "ours" and r["executor"] == metric.relative_to]
    return summary(*_relative_values(metric, mine, reference))


def _theirs(metric: Metric, workload, runs: list[dict], implementations: dict) -> dict:
    if metric.relative_to:
        return {"not_applicable": "a ratio between our executors"}
    if not metric.compare_enb113:
        return {"not_applicable": "not measured on enb 1.1.3"}
    if workload.enb113_skip:
        return {"skipped": workload.enb113_skip}
    if "skipped" in implementations.get("enb113", {}):
        return {"skipped": implementations["enb113"]["skipped"]}
    theirs = [r for r in runs if r["impl"] == "enb113"]
    if not theirs:
        return {"skipped": "not run"}
    found = summary(*_values(metric, theirs, metric.value))
    ours_rows = {_rows(r) for r in runs if r["impl"] == "ours"} - {None}
    theirs_rows = {_rows(r) for r in theirs} - {None}
    if len(theirs_rows) == 1 and theirs_rows != ours_rows:
        found["rows"] = theirs_rows.pop()  # fewer rows than ours: the table says so
    return found


def _rows(run: dict) -> int | None:
    """Return how many rows a run's table had (its first step's ``rows``), if it says."""
    for step in run["steps"].values():
        return step["measurements"].get("rows")
    return None


def _ideal(metric: Metric, runs: list[dict]) -> dict:
    if not metric.ideal:
        return {"not_applicable": "no ideal for this metric"}
    ideal = [r for r in runs if r["impl"] == "ideal"]
    return summary(*_values(metric, ideal, metric.ideal)) if ideal else {"skipped": "not run"}


def _judge(metric: Metric, executor: str | None, ours: float | None, theirs: float | None,
           ideal: float | None) -> dict:
    """Return the ratios to enb 1.1.3 and to the ideal, the target and whether ours meets it."""
    judged = {"vs_enb113": _better_factor(metric, ours, theirs),
              "vs_ideal": _better_factor(metric, ours, ideal), "target": None, "met": None}
    target = metric.target_for(executor)
    if target:
        judged["target"] = {"op": target.op, "threshold": target.threshold,
                            "text": target.text, "on": target.on}
        if target.on in ("ratio_to_ideal", "ratio_to_enb113"):
            reference = ideal if target.on == "ratio_to_ideal" else theirs
            if ours is not None and reference:
                judged["target"]["measured"] = ours / reference
                judged["met"] = target.met(ours / reference)
        elif ours is not None:
            judged["met"] = target.met(ours)
    return judged


# ---------------------------------------------------------------- output

def _number(value: float, unit: str) -> str:
    if unit in ("rows/s", "MB"):
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.3g}" if value < 100 else f"{value:,.0f}"
    return f"{value:.2f}"


def _cell(summary: dict, unit: str, rows: int | None = None) -> str:
    """Format a summary; ``rows``: say at how many rows it was measured (enb 1.1.3's trivial)."""
    if "median" in summary:
        text = _number(summary["median"], unit)
        if summary["n"] > 1:
            text += f" [{_number(summary['min'], unit)}–{_number(summary['max'], unit)}]"
        if rows:
            text += f" at {rows:,} rows"
        if summary.get("errors"):
            text += f" ({len(summary['errors'])} failed)"
        return text
    if "skipped" in summary:
        return "skipped"
    if "not_applicable" in summary:
        return "—"
    return "**error**"


def _met(result: dict) -> str:
    if result["target"] is None:
        return ""
    return {True: "yes", False: "**no**", None: "n/a"}[result["met"]]


def _ratio(value: float | None, kind: str) -> str:
    if value is None:
        return ""
    if kind == "ideal":
        return f"{100 * value:.0f}%"
    return f"{value:.1f}x" if value >= 1 else f"{value:.2f}x (worse)"


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "(no message)"
    return line if len(line) <= limit else line[:limit] + "..."


def markdown(document: dict) -> str:
    """Render the results document as Markdown: header, table, notes."""
    suite, machine = document["suite"], document["machine"]
    impls, sizes = document["implementations"], suite["sizes"]
    lines = [f"# enb benchmarks: {suite['mode']} run", ""]
    git = machine.get("git", {})
    commit = (git.get("commit") or "?")[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
    lines += [
        f"- date: {machine['date']}; duration {suite.get('duration_s', 0):.0f} s; "
        f"command: `{suite['command']}`",
        f"- checkout: {commit} {git.get('subject') or ''}".rstrip(),
        f"- machine: {machine['cpu_model']}, {machine['cores']} cores "
        f"({machine['cores_usable']} usable), {machine['memory_gb']} GB, {machine['os']}, "
        f"Linux {machine['kernel']}; load average at start {machine['load_average_start']}, "
        f"at end {machine.get('load_average_end')}",
    ]
    for key in ("ours", "enb113", "ideal"):
        info = impls.get(key, {})
        if "skipped" in info:
            lines.append(f"- {key}: skipped: {info['skipped']}")
            continue
        versions = ", ".join(f"{name} {info[name]}" for name in ("enb", "numpy", "pandas", "ray")
                             if info.get(name))
        lines.append(f"- {key}: Python {info.get('python')} ({info.get('executable')})"
                     + (f"; {versions}" if versions else ""))
    lines += [
        f"- repetitions: {suite.get('repetitions_done', 0)} of {suite['repetitions']}"
        + (f" (stopped early: {suite['stopped_early']})" if suite.get("stopped_early") else "")
        + ", interleaved per workload (ours on each "
        "executor, then enb 1.1.3, then the ideal); cells show median [min–max]",
        f"- sizes: trivial {sizes['trivial_rows']:,} rows (enb 1.1.3: "
        f"{sizes['enb113_trivial_rows']:,} rows); CPU-bound {sizes['cpu_rows']} rows x "
        f"{sizes['cpu_samples']:,} samples; montecarlo-pi {sizes['montecarlo_rows']} rows x "
        f"{sizes['montecarlo_samples']:,} samples",
        "",
        "| metric | executor | ours | enb 1.1.3 | ideal | vs 1.1.3 | vs ideal | target | met? |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in document["results"]:
        skipped = result["ours"].get("skipped")
        if skipped and (not result["target"] or skipped.startswith("not selected")):
            continue  # an executor not measured: the notes say why; unmet targets stay
        unit = f" ({result['unit']})" if result["unit"] else ""
        lines.append("| " + " | ".join([
            result["label"] + unit, result["executor"],
            _cell(result["ours"], result["unit"]),
            _cell(result["enb113"], result["unit"], result["enb113"].get("rows")),
            _cell(result["ideal"], result["unit"]),
            _ratio(result["vs_enb113"], "enb113"), _ratio(result["vs_ideal"], "ideal"),
            result["target"]["text"] if result["target"] else "", _met(result),
        ]) + " |")
    lines += ["", "Notes:", ""] + [f"- {note}" for note in notes(document)]
    return "\n".join(lines) + "\n"


def notes(document: dict) -> list[str]:
    """Return the explanations the table needs: definitions, skips, errors, findings."""
    notes = _definitions(document) + _skips_and_errors(document) + _findings(document)
    if document["suite"].get("interrupted"):
        notes.append("the run was interrupted: partial results")
    return notes


def _definitions(document: dict) -> list[str]:
    out = ["vs 1.1.3: how many times better ours is (faster, more rows/s, less memory); "
           "vs ideal: ours as a share of the ideal (100% = as good as the ideal)."]
    if "skipped" not in document["implementations"].get("enb113", {"skipped": True}):
        out.append(f"enb 1.1.3 runs with its own default executor (pathos processes) and, on "
                   f"the trivial table and its reload, "
                   f"{document['suite']['sizes']['enb113_trivial_rows']:,} rows (10,000 take "
                   f"it ~80 s); rows/s stays comparable, the reload time favours it.")
    for metric in METRICS:
        if metric.note and any(r["metric"] == metric.key and "skipped" not in r["ours"]
                               for r in document["results"]):
            out.append(f"{metric.label}: {metric.note}.")
    scaling = [run["steps"]["bare"]["measurements"].get("bare_pool_efficiency")
               for run in document["runs"] if run["impl"] == "ideal" and run["ok"]
               and run["workload"] == "cpu-bound"]
    scaling = [s for s in scaling if s is not None]
    if scaling:
        out.append(f"Machine check: the CPU-bound rows on a bare fork pool of 2 (no enb) reach "
                   f"efficiency {statistics.median(scaling):.2f} (median), the practical "
                   f"ceiling on this machine.")
    return out


def _skips_and_errors(document: dict) -> list[str]:
    out = [f"executor {name} skipped: {status['reason']}"
           for name, status in document["executors"].items() if not status["available"]]
    seen = set()
    for result in document["results"]:
        for who in ("ours", "enb113", "ideal"):
            summary = result[who]
            messages = ([summary["error"]] if "error" in summary else []) + summary.get(
                "errors", [])
            for message in messages:
                where = result["executor"] if who == "ours" else "its own"
                key = (who, where, _first_line(message))
                if key not in seen:
                    seen.add(key)
                    out.append(f"error, {who} on {where} executor ({result['workload']}): "
                               f"{_first_line(message)}")
    return out


def _findings(document: dict) -> list[str]:
    """Return what the runs showed besides the numbers: recomputed rows, leaks, and so on."""
    out = []
    repeated: dict[str, list[int]] = {}
    for run in document["runs"]:
        where = f"{run['impl']} on {run['executor'] or 'its own executor'}"
        for label, step in run["steps"].items():
            at = f"{where} ({run['workload']}/{label}, repetition {run['rep']})"
            if label == "reload" and step["measurements"].get("recomputed_rows"):
                out.append(f"{at}: reload recomputed "
                           f"{step['measurements']['recomputed_rows']} rows")
            if step.get("leftovers"):
                out.append(f"{at} left {len(step['leftovers'])} processes running well after "
                           f"it exited (ended by the suite): {'; '.join(step['leftovers'][:3])}")
            elif (step.get("lingered_s") or 0) > 1:
                out.append(f"{at}: its processes ended {step['lingered_s']:.1f} s after the "
                           f"script exited (not timed)")
        measured = run["steps"].get("run", {}).get("measurements", {})
        if not run["ok"] or run["impl"] == "ideal":
            continue
        if run["workload"] == "bringup":
            out.append(f"bring-up, repetition {run['rep']}: {measured.get('rows')} rows ran on "
                       f"{measured.get('hosts')} hosts, {measured.get('remote_rows')} of them "
                       f"away from the head; the whole get_df took "
                       f"{measured.get('get_df_s', float('nan')):.2f} s")
        # Estimates from 1e7 samples are multiples of 4e-7: a few of 128 collide by chance;
        # workers sharing one random state repeat each other's estimates wholesale.
        if run["workload"] == "montecarlo-pi" and "distinct_estimates" in measured \
                and measured["distinct_estimates"] < 0.9 * measured["rows"]:
            repeated.setdefault(where, []).append(measured["distinct_estimates"])
    for where, counts in repeated.items():
        out.append(f"{where}: montecarlo-pi gave only {min(counts)}-{max(counts)} distinct "
                   f"estimates for {document['suite']['sizes']['montecarlo_rows']} rows in "
                   f"{len(counts)} repetitions: workers share numpy's random state")
    return out


def write(document: dict, output_dir: Path) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into ``output_dir``; return their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output_dir / "latest.json", output_dir / "latest.md"
    json_path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n",
                         encoding="utf-8")
    md_path.write_text(markdown(document), encoding="utf-8")
    return json_path, md_path

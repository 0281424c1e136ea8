"""Run reports: what each get_df did, per node, kept beside the table and rendered as HTML.

After a get_df that ran work, the engine writes ``<csv>.run.json`` (rows computed, loaded and
failed; rows and time per node; nodes lost). ``enb report`` gathers those files into one HTML
page with bar charts, viewable in any browser, with no script and no external resource.
"""
from __future__ import annotations

import dataclasses
import datetime
import glob
import html
import json
import os

RUN_SUFFIX = ".run.json"


def save_run(report, csv_path: str) -> str:
    """Write a run report beside its table's CSV; return the path."""
    from .persistence import atomic_write
    record = dataclasses.asdict(report)
    record["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    record["csv"] = os.path.abspath(csv_path)
    path = os.path.abspath(csv_path) + RUN_SUFFIX
    atomic_write(path, json.dumps(record, indent=1).encode("utf-8"))
    return path


def load_runs(paths: list[str]) -> list[dict]:
    """Read run reports from files, or from every ``*.run.json`` under the given folders."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found.extend(sorted(glob.glob(os.path.join(path, "**", "*" + RUN_SUFFIX),
                                          recursive=True)))
        else:
            found.append(path)
    runs = []
    for path in found:
        try:
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError) as ex:
            raise MalformedRunReport(f"{path}: not a run report ({ex})") from None
        problem = _problem(record)
        if problem:
            raise MalformedRunReport(f"{path}: not a run report written by enb ({problem}); "
                                     f"remove it or rerun the script that wrote it")
        runs.append(record)
    return runs


class MalformedRunReport(ValueError):
    """A ``*.run.json`` file is not JSON of the shape :func:`save_run` writes."""


_NUMBER = (int, float)
#: Field -> the types it may hold (None is allowed for none of them).
_FIELDS = {"table": str, "computed": int, "loaded": int, "failed": int,
           "wall_seconds": _NUMBER, "executor": str, "finished": str, "csv": str,
           "nodes": dict, "lost_nodes": list}


def _problem(record) -> str | None:
    """Say what makes ``record`` unlike a saved run report, or return None."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for field, types in _FIELDS.items():
        if field in record and (not isinstance(record[field], types)
                                or isinstance(record[field], bool)):
            return f"{field!r} is {record[field]!r:.60}"
    for node, stats in record.get("nodes", {}).items():
        if not isinstance(stats, dict):
            return f"node {node!r:.60} has {stats!r:.60}, not an object"
        for field in ("rows", "failed", "seconds"):
            value = stats.get(field, 0)
            if not isinstance(value, _NUMBER) or isinstance(value, bool):
                return f"node {node!r:.60}: {field!r} is {value!r:.60}"
    if not all(isinstance(node, str) for node in record.get("lost_nodes", [])):
        return "'lost_nodes' holds something other than node names"
    return None


#: Node labels longer than this are cut (the whole name shows as the bar's tooltip).
_LABEL_CHARS = 40
_CHAR_PX = 8.5  # about the width of a character of the page's 16 px sans-serif


def _bars(title: str, values: dict, unit: str) -> str:
    """Return an inline SVG horizontal bar chart of ``values`` (label -> number)."""
    if not values:
        return ""
    labels = {label: str(label) if len(str(label)) <= _LABEL_CHARS
              else str(label)[:_LABEL_CHARS - 1] + "\u2026" for label in values}
    # The label column fits the longest label, so that no label runs under its bar.
    label_width = 20 + _CHAR_PX * max(8, max(len(text) for text in labels.values()))
    bar, gap, bar_width = 22, 8, 450
    width = label_width + bar_width + 110
    peak = max(values.values()) or 1
    height = len(values) * (bar + gap) + 30
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{width:.0f}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(values.items()):
        y = 26 + i * (bar + gap)
        length = bar_width * value / peak
        parts.append(f'<g><title>{html.escape(str(label))}: {float(value):.4g} '
                     f'{html.escape(_unit(unit, value))}</title>')
        parts.append(f'<text x="0" y="{y + 16}">{html.escape(labels[label])}</text>')
        parts.append(f'<rect x="{label_width:.0f}" y="{y}" width="{length:.1f}" '
                     f'height="{bar}" fill="#4c78a8"/>')
        parts.append(f'<text x="{label_width + length + 6:.1f}" y="{y + 16}">'
                     f'{float(value):.4g} {html.escape(_unit(unit, value))}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)


def _unit(unit: str, value) -> str:
    return unit[:-1] if unit == "rows" and value == 1 else unit


def render_html(runs: list[dict]) -> str:
    """Return one HTML page showing every run: totals, then rows and time per node."""
    sections = []
    for run in runs:
        # Every value comes from a file anyone may have written: each is escaped or a number.
        nodes = run.get("nodes", {})
        rows = {node: stats.get("rows", 0) for node, stats in sorted(nodes.items())}
        seconds = {node: stats.get("seconds", 0) for node, stats in sorted(nodes.items())}
        lost = [str(node) for node in run.get("lost_nodes") or []]
        text = {field: html.escape(str(run.get(field, default))) for field, default in
                (("table", "?"), ("finished", ""), ("executor", ""), ("csv", ""))}
        count = {field: int(run.get(field, 0)) for field in ("computed", "loaded", "failed")}
        sections.append(f"""
<section>
<h2>{text["table"]}</h2>
<p>{text["finished"]} &middot; executor {text["executor"]} &middot; {text["csv"]}</p>
<table>
<tr><th>computed</th><th>loaded</th><th>failed</th><th>wall time</th></tr>
<tr><td>{count["computed"]}</td><td>{count["loaded"]}</td><td>{count["failed"]}</td>
<td>{float(run.get("wall_seconds", 0)):.2f} s</td></tr>
</table>
{_bars("Rows computed per node", rows, "rows")}
{_bars("Time in column functions per node", seconds, "s")}
{"<p class='lost'>Nodes lost during the run: " + html.escape(", ".join(lost)) + "</p>"
 if lost else ""}
</section>""")
    body = "\n".join(sections) or "<p>No run reports found.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>enb run report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: right; }}
.lost {{ color: #b00; }}
</style></head>
<body><h1>enb run report</h1>
{body}
</body></html>
"""

"""``enb report``: write the run reports of a project as one HTML page."""
from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` command to the ``enb`` command line."""
    report = subparsers.add_parser(
        "report", help="write an HTML page of the last runs (rows and time per node)",
        description="Gather the run reports that get_df leaves beside each table's CSV "
                    "(*.run.json) and write them as one HTML page with bar charts.")
    report.add_argument("paths", nargs="*", default=["persistence"],
                        help="run report files, or folders searched for them "
                             "(default: ./persistence)")
    report.add_argument("-o", "--output", default="enb_report.html",
                        help="HTML file to write (default: enb_report.html)")
    report.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from enb.report import load_runs, render_html
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        print(f"enb report: {', '.join(missing)} not found; give the persistence folder or "
              f"*.run.json files", file=sys.stderr)
        return 1
    try:
        runs = load_runs(args.paths)
    except ValueError as ex:
        print(f"enb report: {ex}", file=sys.stderr)
        return 1
    if not runs:
        print(f"enb report: no run reports (*.run.json) under {', '.join(args.paths)}; run a "
              f"script first", file=sys.stderr)
        return 1
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(render_html(runs))
    print(f"wrote {args.output} ({len(runs)} runs)")
    return 0

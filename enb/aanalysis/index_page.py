"""index.html: every figure and summary table of a run on one page, by analyzer.

Each analysis (one ``get_df`` call) adds a section to ``<analysis_dir>/index.html``: its
summary table and its figures (the PNG shown, the PDF linked), or the error of a figure that
failed. The page is rewritten after every analysis of the run, so it is complete whenever
the script stops; a new run of the script starts a new page. Images are linked by relative
paths, so the page opens from the disk in any browser, without a server. Every text on the
page is escaped.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import html
import io
import os
import urllib.parse

from .grouping import get_groupby_str
from .tables import replacing

#: Rows of a summary table shown on the page (the CSV file has them all).
MAX_TABLE_ROWS = 200


@dataclasses.dataclass
class FigureEntry:
    pdf: str            # absolute paths
    png: str | None
    error: str | None


@dataclasses.dataclass
class Section:
    analyzer: str
    title: str
    key: tuple
    figures: list
    tables: list        # absolute paths of the CSV/LaTeX files
    folder: str = ""    # of the figures, relative to the page


#: index.html path -> the sections this process wrote there, in order.
_RUNS: dict[str, list[Section]] = {}
_STARTED: dict[str, str] = {}


def record(analyzer, target_columns, group_by, reference_group, specs, outcomes, table_paths,
           folder: str) -> str:
    """Add one analysis to the run's index page in ``folder`` and rewrite it; return its path."""
    from ..config import options
    root = options.resolved_project_root()
    figures = []
    for spec, outcome in zip(specs, outcomes):
        pdf = spec.output_plot_path if os.path.isabs(spec.output_plot_path) \
            else os.path.join(root, spec.output_plot_path)
        png = pdf[:-4] + ".png" if pdf.lower().endswith(".pdf") else None
        figures.append(FigureEntry(pdf=pdf, png=png, error=outcome.error))
    name = type(analyzer).__name__
    title = ", ".join(c if isinstance(c, str) else " vs ".join(map(str, c))
                      for c in target_columns)
    if group_by:
        title += f" — grouped by {get_groupby_str(group_by)}"
    if reference_group is not None:
        title += f", against {reference_group}"
    key = (name, title, tuple(os.path.dirname(f.pdf) for f in figures[:1]))
    path = os.path.join(folder, "index.html")
    sections = _RUNS.setdefault(path, [])
    _STARTED.setdefault(path, datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    section = Section(name, title, key, figures, [os.path.abspath(p) for p in table_paths])
    if figures:
        section.folder = os.path.relpath(os.path.dirname(figures[0].pdf), folder)
    for i, existing in enumerate(sections):
        if existing.key == key:
            sections[i] = section
            break
    else:
        sections.append(section)
    with replacing(path) as stream:
        stream.write(render_page(sections, os.path.dirname(os.path.abspath(path)),
                                 _STARTED[path]))
    return path


def _link(target: str, base: str) -> str:
    return html.escape(urllib.parse.quote(os.path.relpath(target, base).replace(os.sep, "/")))


def _cell(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return html.escape(text)
    shown = f"{number:.6g}" if text.strip() not in ("", "nan", "inf", "-inf") else text
    return f'<span title="{html.escape(text)}">{html.escape(shown)}</span>'


def _table_html(path: str) -> str:
    """Return a summary CSV as an HTML table (or as text when it is not one table)."""
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            text = stream.read()
    except OSError as error:
        return f'<p class="error">{html.escape(f"{path}: {error}")}</p>'
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or len({len(r) for r in rows}) != 1:
        return f"<pre>{html.escape(text[:20000])}</pre>"
    head, body = rows[0], rows[1:]
    parts = ["<div class=\"table\"><table><thead><tr>"]
    parts += [f"<th>{html.escape(h)}</th>" for h in head]
    parts.append("</tr></thead><tbody>")
    for row in body[:MAX_TABLE_ROWS]:
        parts.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
    parts.append("</tbody></table></div>")
    if len(body) > MAX_TABLE_ROWS:
        parts.append(f"<p>{len(body) - MAX_TABLE_ROWS} more rows in the CSV file.</p>")
    return "".join(parts)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; } h2 { border-bottom: 2px solid #ccc; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
nav li { margin: 0.15em 0; }
.table { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f3f3f3; } td:first-child { text-align: left; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; width: 420px; } figure img { width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.75em; word-break: break-all; }
.error { color: #a00; white-space: pre-wrap; font-family: monospace; font-size: 0.8em; }
.files { font-size: 0.8em; }
"""


def render_page(sections: list, base: str, started: str) -> str:
    """Return the HTML of the index page for ``sections`` (paths relative to ``base``)."""
    by_analyzer: dict[str, list] = {}
    for section in sections:
        by_analyzer.setdefault(section.analyzer, []).append(section)
    figure_count = sum(len(s.figures) for s in sections)
    failed = sum(1 for s in sections for f in s.figures if f.error)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>enb analysis</title>", f"<style>{_STYLE}</style></head><body>",
           "<h1>enb analysis</h1>",
           f"<p>Run started {html.escape(started)}: {len(sections)} analyses, {figure_count} "
           f"figures{f', {failed} failed' if failed else ''}.</p>", "<nav><ul>"]
    anchors = {}
    for number, (analyzer, items) in enumerate(by_analyzer.items()):
        out.append(f'<li><a href="#a{number}">{html.escape(analyzer)}</a><ul>')
        for k, section in enumerate(items):
            anchors[id(section)] = f"a{number}-{k}"
            out.append(f'<li><a href="#a{number}-{k}">{html.escape(section.title)}</a></li>')
        out.append("</ul></li>")
    out.append("</ul></nav>")
    for number, (analyzer, items) in enumerate(by_analyzer.items()):
        out.append(f'<h2 id="a{number}">{html.escape(analyzer)}</h2>')
        for section in items:
            out.append(f'<h3 id="{anchors[id(section)]}">{html.escape(section.title)}</h3>')
            if section.folder:
                out.append(f'<p class="files">Figures in {html.escape(section.folder)}</p>')
            csv_files = [p for p in section.tables if p.endswith(".csv")]
            if csv_files:
                out.append(_table_html(csv_files[0]))
            if section.tables:
                out.append('<p class="files">Tables: ' + ", ".join(
                    f'<a href="{_link(p, base)}">{html.escape(os.path.basename(p))}</a>'
                    for p in section.tables) + "</p>")
            out.append('<div class="figures">')
            for figure in section.figures:
                name = html.escape(os.path.basename(figure.pdf))
                if figure.error:
                    out.append(f'<figure><p class="error">{name} failed:\n'
                               f'{html.escape(figure.error)}</p></figure>')
                    continue
                image = (f'<img src="{_link(figure.png, base)}" alt="{name}" loading="lazy">'
                         if figure.png else "")
                out.append(f'<figure><a href="{_link(figure.pdf, base)}">{image}</a>'
                           f'<figcaption>{name}</figcaption></figure>')
            out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"

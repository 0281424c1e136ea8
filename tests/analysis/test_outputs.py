"""Every analyzer x every render mode on a small fixed table: enb 1.x's file names, valid PDF
and PNG files of the expected size, and summary tables equal to statistics computed here with
numpy and scipy (not with enb)."""
import ast
import os

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import enb
from tests.analysis.conftest import small_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_figure(pdf_path, size_inches):
    """The PDF is a whole PDF; the PNG beside it decodes to size_inches at 300 dpi."""
    from PIL import Image
    with open(pdf_path, "rb") as stream:
        data = stream.read()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), pdf_path
    assert len(data) > 1000, pdf_path
    png = pdf_path[:-4] + ".png"
    with open(png, "rb") as stream:
        assert stream.read(8) == PNG_SIGNATURE, png
    with Image.open(png) as image:
        image.load()  # decodes every pixel, not only the header
        width, height = size_inches
        assert image.size == (round(width * 300), round(height * 300)), png
        assert image.getextrema()[3][1] > 0, f"{png} is fully transparent"
        # Nothing is cut by the figure's edges: its outer 3 pixels are left blank.
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        border = np.concatenate([alpha[:3].ravel(), alpha[-3:].ravel(), alpha[:, :3].ravel(),
                                 alpha[:, -3:].ravel()])
        assert border.max() == 0, f"{png}: something touches the figure's edge"


def files_in(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, names in os.walk(folder) for f in names)


def finite(values):
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def expected_scalar(values):
    values = finite(values)
    return {"min": values.min(), "max": values.max(), "avg": values.mean(),
            "std": values.std(ddof=1) if len(values) > 1 else 0.0,
            "median": np.median(values), "count": len(values)}


def assert_scalar_columns(table, frame, group_column, columns, labels=None):
    """Check <column>_<stat> of every group of a summary CSV against numpy."""
    labels = labels or {}
    for _, row in table.iterrows():
        rows = frame if row["Group"] == "All" else frame[frame[group_column] == row["Group"]]
        assert row["group_size"] == len(rows)
        for column in columns:
            expected = expected_scalar(rows[column])
            for stat, value in expected.items():
                header = labels.get(column, column.capitalize()) if stat == "avg" \
                    else f"{column}_{stat}"
                assert row[header] == pytest.approx(value, rel=1e-12, abs=1e-12), \
                    (row["Group"], column, stat)


def test_scalar_numeric_analyzer_every_mode_grouped(project):
    frame = small_table()
    summary = enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=frame, target_columns=["a", "b"], group_by="g")
    plots, analysis = project / "plots", project / "analysis"
    stems = [f"ScalarNumericAnalyzer-{c}-{m}-groupby__g" for c in "ab"
             for m in ("histogram", "hbar", "boxplot")]
    assert files_in(plots) == sorted(f"{s}.{e}" for s in stems for e in ("pdf", "png"))
    for column in "ab":
        check_figure(str(plots / f"ScalarNumericAnalyzer-{column}-histogram-groupby__g.pdf"), (5, 4))
        check_figure(str(plots / f"ScalarNumericAnalyzer-{column}-boxplot-groupby__g.pdf"), (5, 4))
        # One 0.5-inch row per group, plus 0.5 inch for the axis (as enb 1.x).
        check_figure(str(plots / f"ScalarNumericAnalyzer-{column}-hbar-groupby__g.pdf"), (5, 2))
    stem = "ScalarNumericAnalyzer-columns_a__b-histogram__hbar__boxplot-groupby__g"
    assert sorted(p for p in files_in(analysis) if p != "index.html") == \
        [f"{stem}.csv", f"{stem}.tex"]
    table = pd.read_csv(analysis / f"{stem}.csv")
    assert list(table.columns) == ["Group", "group_size"] + [
        f"{c}_{s}" if s != "avg" else c.upper() for c in "ab"
        for s in ("min", "max", "avg", "std", "median", "count")]
    assert list(table["Group"]) == ["x", "y", "z"]
    assert_scalar_columns(table, frame, "g", ["a", "b"], labels={"a": "A", "b": "B"})
    assert list(summary.index) == ["('x',)", "('y',)", "('z',)"]
    tex = (analysis / f"{stem}.tex").read_text()
    assert tex.startswith("\\begin{tabular}{lrrr}\n\\textbf{Group} & \\textbf{group\\_size} & "
                          "\\textbf{A} & \\textbf{B} \\\\\n")
    x_average = finite(frame[frame.g == "x"]["a"]).mean()
    assert f"x & 10 & {x_average:.3f} & " in tex


@pytest.mark.parametrize("mode", ["histogram", "hbar", "boxplot"])
def test_scalar_numeric_analyzer_one_mode_ungrouped_with_labels(project, mode):
    frame = small_table()
    properties = {"a": enb.atable.ColumnProperties("a", label="Value of $a$ (%)")}
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=frame, target_columns="a", selected_render_modes=mode,
        column_to_properties=properties)
    plots, analysis = project / "plots", project / "analysis"
    assert files_in(plots) == [f"ScalarNumericAnalyzer-a-{mode}.{e}" for e in ("pdf", "png")]
    check_figure(str(plots / f"ScalarNumericAnalyzer-a-{mode}.pdf"),
                 (5, 1) if mode == "hbar" else (5, 4))
    table = pd.read_csv(analysis / f"ScalarNumericAnalyzer-columns_a-{mode}.csv")
    assert list(table["Group"]) == ["All"]
    assert_scalar_columns(table, frame, "g", ["a"], labels={"a": "Value of $a$ (%)"})
    tex = (analysis / f"ScalarNumericAnalyzer-columns_a-{mode}.tex").read_text()
    assert r"\textbf{Value of \$a\$ (\%)}" in tex


def test_scalar_numeric_analyzer_reference_group_and_global_group(project):
    frame = small_table()
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=frame, target_columns=["a"], group_by="g", reference_group="y",
        show_global=True)
    analysis = project / "analysis"
    stem = "ScalarNumericAnalyzer-columns_a-histogram__hbar__boxplot-groupby__g-referencegroup__y"
    table = pd.read_csv(analysis / f"{stem}.csv")
    assert list(table["Group"]) == ["x", "y", "z", "All"]
    shifted = frame.assign(a=frame["a"] - finite(frame[frame.g == "y"]["a"]).mean())
    assert_scalar_columns(table, shifted, "g", ["a"], labels={"a": "A"})
    assert table.loc[table.Group == "y", "A"].item() == pytest.approx(0, abs=1e-12)
    for mode in ("histogram", "hbar", "boxplot"):
        assert (project / "plots" /
                f"ScalarNumericAnalyzer-a-{mode}-groupby__g-referencegroup__y.png").exists()


def expected_pair(x, y):
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x, dtype=float)[keep], np.asarray(y, dtype=float)[keep]
    pearson = scipy.stats.pearsonr(x, y)
    spearman = scipy.stats.spearmanr(x, y)
    line = scipy.stats.linregress(x, y)
    return {"pearson_correlation": pearson.statistic,
            "pearson_correlation_pvalue": pearson.pvalue,
            "spearman_correlation": spearman.statistic,
            "spearman_correlation_pvalue": spearman.pvalue,
            "linear_lse_slope": line.slope, "linear_lse_intercept": line.intercept}


def test_two_numeric_analyzer_scatter_and_line(project):
    frame = small_table()
    analyzer = enb.aanalysis.TwoNumericAnalyzer()
    analyzer.show_linear_regression = True
    analyzer.get_df(full_df=frame, target_columns=[("a", "b")], group_by="g")
    plots, analysis = project / "plots", project / "analysis"
    assert files_in(plots) == sorted(
        f"TwoNumericAnalyzer-columns_a__b-{m}-groupby__g.{e}"
        for m in ("scatter", "line") for e in ("pdf", "png"))
    for mode in ("scatter", "line"):
        check_figure(str(plots / f"TwoNumericAnalyzer-columns_a__b-{mode}-groupby__g.pdf"), (5, 4))
    assert sorted(p for p in files_in(analysis) if p != "index.html") == [
        "TwoNumericAnalyzer-columns_a__vs__b-line-groupby__g.csv",
        "TwoNumericAnalyzer-columns_a__vs__b-scatter-groupby__g.csv",
        "TwoNumericAnalyzer-columns_a__vs__b-scatter-groupby__g.tex"]
    table = pd.read_csv(analysis / "TwoNumericAnalyzer-columns_a__vs__b-scatter-groupby__g.csv")
    assert_scalar_columns(table, frame, "g", ["a", "b"], labels={"a": "A", "b": "B"})
    assert list(table.columns[-6:]) == [f"a_b_{s}" for s in (
        "pearson_correlation", "pearson_correlation_pvalue", "spearman_correlation",
        "spearman_correlation_pvalue", "linear_lse_slope", "linear_lse_intercept")]
    for _, row in table.iterrows():
        rows = frame[frame.g == row["Group"]]
        for stat, value in expected_pair(rows["a"], rows["b"]).items():
            assert row[f"a_b_{stat}"] == pytest.approx(value, rel=1e-9, abs=1e-12), stat
    # The line CSV: per group, the plotted points in x order, x row then y row.
    lines = (analysis / "TwoNumericAnalyzer-columns_a__vs__b-line-groupby__g.csv") \
        .read_text().splitlines()
    assert [line.split(",")[:2] for line in lines] == [
        [g, c] for group in "xyz" for g, c in ((group, "a"), ("", "b"))]
    rows = frame[frame.g == "x"]
    keep = np.isfinite(rows["a"]) & np.isfinite(rows["b"])
    assert [float(v) for v in lines[0].split(",")[2:]] == sorted(rows["a"][keep])


def test_dict_numeric_analyzer(project):
    frame = small_table()
    properties = {"d": enb.atable.ColumnProperties("d", has_dict_values=True)}
    enb.aanalysis.DictNumericAnalyzer().get_df(
        full_df=frame, target_columns=["d"], group_by="g", column_to_properties=properties)
    plots, analysis = project / "plots", project / "analysis"
    assert files_in(plots) == [f"DictNumericAnalyzer-d-line-groupby__g.{e}"
                               for e in ("pdf", "png")]
    check_figure(str(plots / "DictNumericAnalyzer-d-line-groupby__g.pdf"), (5, 4))
    table = pd.read_csv(analysis / "DictNumericAnalyzer-columns_d-line-groupby__g.csv")
    assert list(table.columns) == ["Group", "group_size", "d_min", "d_max", "D", "d_std",
                                   "d_median"]
    for _, row in table.iterrows():
        dicts = list(frame[frame.g == row["Group"]]["d"])
        averages = ast.literal_eval(row["D"])
        deviations = ast.literal_eval(row["d_std"])
        keys = sorted({k for d in dicts for k in d})
        assert list(averages) == keys
        for key in keys:
            values = [d[key] for d in dicts if key in d]
            assert averages[key] == pytest.approx(np.mean(values))
            assert deviations[key] == pytest.approx(np.std(values, ddof=1)
                                                    if len(values) > 1 else 0.0)


def test_scalar_numeric_2d_analyzer(project):
    frame = small_table()
    analyzer = enb.aanalysis.ScalarNumeric2DAnalyzer()
    analyzer.bin_count = 4
    analyzer.get_df(full_df=frame, target_columns=[("px", "py", "a")], group_by="g",
                    fig_width=5, fig_height=7)
    plots, analysis = project / "plots", project / "analysis"
    stem = "ScalarNumeric2DAnalyzer-columns_px__py__a-colormap-groupby__g"
    assert files_in(plots) == [f"{stem}.pdf", f"{stem}.png"]
    check_figure(str(plots / f"{stem}.pdf"), (5, 7))
    table = pd.read_csv(
        analysis / "ScalarNumeric2DAnalyzer-columns_px__vs__py__vs__a-colormap-groupby__g.csv")
    assert_scalar_columns(table, frame, "g", ["px", "py", "a"],
                          labels={"px": "Px", "py": "Py", "a": "A"})


def test_scalar_numeric_joint_analyzer(project):
    frame = small_table()
    analyzer = enb.aanalysis.ScalarNumericJointAnalyzer()
    analyzer.fig_width, analyzer.fig_height = 6, 2
    analyzer.get_df(full_df=frame, target_columns=[("cx", "cy", "a")], show_global_row=True,
                    show_global_column=True, highlight_best_row="low")
    plots, analysis = project / "plots", project / "analysis"
    assert files_in(plots) == [f"ScalarNumericJointAnalyzer-columns_cx__cy__a-table.{e}"
                               for e in ("pdf", "png")]
    check_figure(str(plots / "ScalarNumericJointAnalyzer-columns_cx__cy__a-table.pdf"), (6, 2))
    text = (analysis / "ScalarNumericJointAnalyzer-columns_cx__vs__cy__vs__a-table.csv") \
        .read_text()
    sections = {}
    for block in text.split("## Statistic: ")[1:]:
        name, _group, header, *rows = [line for line in block.splitlines() if line]
        sections[name] = (header.split(",")[1:], [r.split(",") for r in rows])
    assert list(sections) == ["avg", "count", "min", "max", "std", "median"]
    header, rows = sections["avg"]
    assert header == ["blue", "green", "red", "All"]
    clean = frame[np.isfinite(frame["a"])]
    for row in rows:
        for x, cell in zip(header, row[1:]):
            cells = clean if x == "All" else clean[clean.cx == x]
            cells = cells if row[0] == "All" else cells[cells.cy == row[0]]
            assert float(cell) == pytest.approx(cells["a"].mean(), abs=5e-4), (x, row[0])
    header, rows = sections["count"]
    assert [row[0] for row in rows] == ["north", "south", "All"]
    assert sum(int(c) for row in rows[:-1] for c in row[1:-1]) == len(clean)


def test_the_index_page_shows_every_figure_and_table_escaped(project):
    frame = small_table().assign(g=lambda f: f["g"].map({"x": "<b>x</b>", "y": "y&y", "z": "z"}))
    enb.aanalysis.ScalarNumericAnalyzer().get_df(full_df=frame, target_columns=["a"],
                                                 group_by="g")
    enb.aanalysis.TwoNumericAnalyzer().get_df(full_df=frame, target_columns=[("a", "b")],
                                              selected_render_modes="scatter")
    page = (project / "analysis" / "index.html").read_text()
    for png in (project / "plots").glob("*.png"):
        assert f'src="../plots/{png.name}"' in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "y&amp;y" in page
    assert page.index("<h2") < page.index("ScalarNumericAnalyzer-a-histogram") \
        < page.index("TwoNumericAnalyzer</h2>")
    assert "<td>" in page and "group_size" in page


def test_two_numeric_lines_by_task_family_join_each_tasks_average(project):
    # As the lossy-compression template does: one line per family, a point per task.
    families = [enb.experiment.TaskFamily("fast", task_names=["f3", "f1", "f2"]),
                enb.experiment.TaskFamily("slow", task_names=["s1", "s2"])]
    rows = []
    for family in families:
        for level, task in enumerate(family.task_names):
            for repeat in range(4):
                rows.append({"family_label": family.label, "task_name": task,
                             "rate": level + 0.1 * repeat, "quality": 10 * level + repeat})
    frame = pd.DataFrame(rows)
    enb.aanalysis.TwoNumericAnalyzer().get_df(full_df=frame, target_columns=[("rate", "quality")],
                                              group_by=families, selected_render_modes="line")
    check_figure(str(project / "plots" /
                     "TwoNumericAnalyzer-columns_rate__quality-line-groupby__family_label.pdf"),
                 (5, 4))
    lines = (project / "analysis" /
             "TwoNumericAnalyzer-columns_rate__vs__quality-line-groupby__family_label.csv") \
        .read_text().splitlines()
    assert lines[0].split(",")[:2] == ["fast", "rate"]
    means = frame.groupby("task_name")[["rate", "quality"]].mean()
    assert [float(v) for v in lines[0].split(",")[2:]] == \
        pytest.approx([means.loc[t, "rate"] for t in ("f3", "f1", "f2")])
    assert [float(v) for v in lines[3].split(",")[2:]] == \
        pytest.approx([means.loc[t, "quality"] for t in ("s1", "s2")])


def test_column_properties_of_a_scripts_table_do_not_travel_with_their_functions(project):
    # The properties of a table's own columns hold its column functions: methods of a class
    # the workers may not import. Figures need only labels and limits.
    class Local(enb.atable.ATable):
        @enb.atable.column_function(enb.atable.ColumnProperties("a", label="Local a"))
        def set_a(self, index, row):
            row["a"] = index

    frame = pd.DataFrame({"a": np.arange(10.0)})
    enb.aanalysis.ScalarNumericAnalyzer().get_df(full_df=frame, target_columns=["a"],
                                                 column_to_properties=Local.column_to_properties)
    assert (project / "plots" / "ScalarNumericAnalyzer-a-histogram.png").exists()
    assert Local.column_to_properties["a"].fun is not None


@pytest.mark.parametrize("format_str, value, label", [
    ("{:.2f}", -5.551115123125783e-17, "0.00"),  # 0 interpolated on linspace(-1.1, 0.1, 5)
    ("{:.2f}", -0.004, "0.00"),
    ("{:.1e}", -1e-300, "-1.0e-300"),
    ("{:.2f}", -0.006, "-0.01"),
    ("{:.2f}", 0.0, "0.00"),
    ("{:.0f}", -0.4, "0"),
    ("{:.0f}", -3.0, "-3"),
])
def test_colour_map_tick_labels_never_read_minus_zero(format_str, value, label):
    from enb.aanalysis.twod import tick_label
    assert tick_label(format_str, value) == label

"""A figure that fails to render: the run ends naming it, and every other figure exists."""
import pytest

import enb
from tests.analysis.conftest import small_table


class Exploding(enb.plotdata.PlottableData2D):
    """A plot element whose drawing raises, as a bug in a user's element would."""

    def __init__(self):
        super().__init__(x_values=[0], y_values=[0])

    def render(self, axes=None):
        raise RuntimeError("this element cannot be drawn")


class BreaksOneFigure(enb.aanalysis.ScalarNumericAnalyzer):
    """Adds an Exploding element to the histogram of column b only."""

    def update_render_kwargs_one_case(self, column_selection, render_mode, **kwargs):
        kwargs = super().update_render_kwargs_one_case(column_selection=column_selection,
                                                       render_mode=render_mode, **kwargs)
        if column_selection == "b" and render_mode == "histogram":
            next(iter(kwargs["pds_by_group_name"].values())).append(Exploding())
        return kwargs


def test_a_failing_figure_is_named_and_the_others_are_rendered(project):
    with pytest.raises(enb.render.RenderError) as caught:
        BreaksOneFigure().get_df(full_df=small_table(), target_columns=["a", "b"], group_by="g")
    error = caught.value
    broken = "plots/BreaksOneFigure-b-histogram-groupby__g.pdf"
    assert [f.output_plot_path for f in error.failures] == [broken]
    assert "1 of 6 figures failed to render" in str(error)
    assert broken in str(error) and "this element cannot be drawn" in str(error)
    assert "RuntimeError" in error.failures[0].error
    plots = project / "plots"
    assert not (plots / "BreaksOneFigure-b-histogram-groupby__g.pdf").exists()
    for column, mode in [("a", "histogram"), ("a", "hbar"), ("a", "boxplot"), ("b", "hbar"),
                         ("b", "boxplot")]:
        for extension in ("pdf", "png"):
            assert (plots / f"BreaksOneFigure-{column}-{mode}-groupby__g.{extension}").stat() \
                .st_size > 1000
    # The tables are written and the index page says which figure failed.
    analysis = project / "analysis"
    assert (analysis / "BreaksOneFigure-columns_a__b-histogram__hbar__boxplot-groupby__g.csv") \
        .exists()
    page = (analysis / "index.html").read_text()
    assert "BreaksOneFigure-b-histogram-groupby__g.pdf failed" in page
    assert "this element cannot be drawn" in page
    # No temporary file is left behind by the failed figure.
    assert not [p for p in plots.iterdir() if p.name.startswith(".enb-")]


def test_a_mistyped_rendering_option_is_refused_before_any_work(project):
    with pytest.raises(TypeError, match=r"'fig_widht' \(did you mean 'fig_width'\?\)"):
        enb.aanalysis.ScalarNumericAnalyzer().get_df(full_df=small_table(), target_columns="a",
                                                     fig_widht=3)
    assert not (project / "plots").exists()

"""Render figures from :mod:`enb.plotdata` elements with matplotlib (enb 1.x names).

:func:`render_plds_by_group` draws one figure in this process; :func:`render_figures` draws
many through the selected executor, one task per figure. matplotlib is imported only when a
figure is drawn (``pip install 'enb[plot]'``).
"""
from __future__ import annotations

from .figure import (PNG_DPI, FigureError, color_cycle, marker_cycle, natural_key,  # noqa: F401
                     pattern_cycle, render_plds_by_group, sorted_group_names)
from .parallel import (FigureOutcome, FigureSpec, RenderError, portable,  # noqa: F401
                       render_figures)
from .styles import StyleError  # noqa: F401


def parallel_render_plds_by_group(**kwargs):
    """Render one figure through the executor and return the files written (enb 1.x name).

    Takes the arguments of :func:`render_plds_by_group`. enb 1.x returned a task id to wait
    for; the figure is rendered by the time this returns.
    """
    path = kwargs.pop("output_plot_path")
    outcome, = render_figures([FigureSpec(path, kwargs)])
    return list(outcome.written)

"""Render many figures at once through the selected executor: one task per figure.

The head ships each worker only its figure's data (a :class:`FigureSpec`: the plot elements
and the drawing options), never the analysed DataFrame. Workers draw with matplotlib's Agg
backend. A figure whose path lies in the project is named relative to the project root, so a
worker on a remote node writes it through its mount into the head's folder. A figure that
fails is data: the others still render, and :class:`RenderError` names every failure.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import traceback

logger = logging.getLogger(__name__)

#: A figure whose worker died is tried this many times in all.
MAX_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One figure to draw: where it goes and what :func:`render_plds_by_group` gets.

    ``output_plot_path`` is absolute, or relative to the project root (figures inside the
    project travel that way, see :func:`portable`).
    """
    output_plot_path: str
    kwargs: dict

    @property
    def label(self) -> str:
        return self.output_plot_path


@dataclasses.dataclass(frozen=True)
class FigureOutcome:
    """What rendering one figure did: the files written, or the error (type and message,
    then the worker's traceback)."""
    output_plot_path: str
    written: tuple = ()
    error: str | None = None
    details: str = ""
    node: str = ""


class RenderError(RuntimeError):
    """One or more figures failed; every other figure was rendered.

    ``failures`` holds one :class:`FigureOutcome` per failed figure.
    """

    def __init__(self, failures, total):
        self.failures = list(failures)
        self.total = total
        shown = "; ".join(f"{f.output_plot_path}: {f.error}" for f in self.failures[:5])
        more = len(self.failures) - 5
        super().__init__(f"{len(self.failures)} of {total} figures failed to render: {shown}"
                         + (f" (and {more} more)" if more > 0 else ""))


def portable(path: str, project_root: str) -> str:
    """Return ``path`` relative to ``project_root`` when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    relative = os.path.relpath(path, project_root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return path
    return relative


def _init_render_worker(options_values: dict | None, *element_exemplars) -> None:
    """Prepare a worker: the head's options, and matplotlib on its Agg backend.

    ``element_exemplars`` (ignored here) are one plot element of each class not defined by
    enb: handing them to the pool makes executors that ship code ship those classes too.
    """
    if options_values is not None:
        from ..config import options
        options.restore(options_values)
    import matplotlib
    matplotlib.use("Agg", force=True)


def _render_task(spec: FigureSpec) -> FigureOutcome:
    """Draw one figure in a worker; failures come back as data, never as exceptions."""
    from ..config import options
    from ..misc import get_node_ip
    from .figure import render_plds_by_group
    path = spec.output_plot_path
    target = path if os.path.isabs(path) else os.path.join(options.resolved_project_root(), path)
    try:
        written = render_plds_by_group(output_plot_path=target, **spec.kwargs)
    except Exception as error:  # noqa: BLE001 -- a failed figure is reported, not raised
        return FigureOutcome(path, error=f"{type(error).__name__}: {error}",
                             details=traceback.format_exc(), node=get_node_ip())
    project = options.resolved_project_root()
    return FigureOutcome(path, written=tuple(portable(w, project) for w in written),
                         node=get_node_ip())


_WARM = False


def _warm_up_matplotlib() -> None:
    """Import matplotlib's figure and backends and load its default font, once per process.

    Workers forked afterwards inherit them instead of paying for them on their first figure
    (~1 CPU-second each). Nothing is drawn to a file here.
    """
    global _WARM
    if _WARM:
        return
    import matplotlib.backends.backend_agg as agg
    import matplotlib.backends.backend_pdf  # noqa: F401
    from matplotlib.figure import Figure
    figure = Figure(figsize=(1, 1))
    figure.text(0.5, 0.5, "enb 0.123456789")
    agg.FigureCanvasAgg(figure).draw()
    _WARM = True


def _foreign_exemplars(specs) -> list:
    """Return one plot element per class that is not enb's (a script's or a module's own)."""
    found = {}
    for spec in specs:
        groups = spec.kwargs.get("pds_by_group_name") or {}
        for element in [e for elements in groups.values() for e in elements] + \
                list(spec.kwargs.get("extra_plds") or ()):
            cls = type(element)
            if not cls.__module__.startswith("enb.") and cls not in found:
                found[cls] = element
    return list(found.values())


def render_figures(specs: list[FigureSpec], raise_on_failure: bool = True) -> list[FigureOutcome]:
    """Render every figure through the executor of the current options; return the outcomes
    in the order of ``specs``.

    Raises :class:`RenderError` after all figures were tried when any failed (unless
    ``raise_on_failure`` is False).
    """
    from ..config import options
    from ..executors import WorkerLostError, get_executor
    if not specs:
        return []
    # Workers forked after these imports share matplotlib's modules (and its font list)
    # instead of importing them again for every pool (~0.5 s of CPU each); nothing is drawn
    # in this process.
    _warm_up_matplotlib()
    executor = get_executor(options)
    outcomes: dict[int, FigureOutcome] = {}
    attempts = dict.fromkeys(range(len(specs)), 0)
    initargs = (options.snapshot(), *_foreign_exemplars(specs))
    with executor.open_pool(_init_render_worker, initargs) as pool:
        pending = {}

        def submit(i):
            attempts[i] += 1
            pending[pool.submit(_render_task, specs[i])] = i

        for i in range(len(specs)):
            submit(i)
        while pending:
            done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                try:
                    outcomes[i] = future.result()
                except WorkerLostError as error:
                    if attempts[i] < MAX_ATTEMPTS:
                        logger.warning("the worker rendering %s was lost (%s); trying again",
                                       specs[i].output_plot_path, error)
                        submit(i)
                        continue
                    outcomes[i] = FigureOutcome(specs[i].output_plot_path,
                                                error=f"its worker was lost {attempts[i]} times: "
                                                      f"{error}")
                except Exception as error:  # noqa: BLE001 -- e.g. the spec did not pickle
                    outcomes[i] = FigureOutcome(specs[i].output_plot_path,
                                                error=f"{type(error).__name__}: {error}",
                                                details=traceback.format_exc())
    ordered = [outcomes[i] for i in range(len(specs))]
    failures = [o for o in ordered if o.error]
    for failure in failures:
        logger.error("rendering %s failed%s: %s\n%s", failure.output_plot_path,
                     f" on {failure.node}" if failure.node else "", failure.error,
                     failure.details.rstrip())
    if failures and raise_on_failure:
        raise RenderError(failures, len(specs))
    return ordered

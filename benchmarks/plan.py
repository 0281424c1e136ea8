"""What the suite measures, as data: sizes per mode, workloads and their steps, metrics, targets.

A *workload* is a sequence of steps, each a fresh process running one script of
``benchmarks/workloads/`` in one shared work folder (the reload step reads what the create
step wrote). A *metric* reads one number out of a workload's steps, for ours, for enb 1.1.3
and for the ideal; a *target* is the bar from the issues that ours must clear.
The runner (``run.py``) acts on these descriptions; nothing here runs anything.
"""
from __future__ import annotations

import dataclasses
import operator
from typing import Callable

EXECUTORS = ("local-process", "local-ray", "ssh-ray-cluster")

#: Step results: {step label: measurements the script wrote, plus "outside_wall_s",
#: "outside_peak_rss_mb" and "session_peak_rss_mb" measured by the runner}.
Steps = dict[str, dict]


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each workload is, and how often it is repeated, in one mode."""
    repetitions: int
    trivial_rows: int
    enb113_trivial_rows: int   # enb 1.1.3 needs ~80 s for 10,000 trivial rows
    cpu_rows: int
    cpu_samples: int           # per row; 48e6 is ~0.2 s here
    montecarlo_rows: int
    montecarlo_samples: int
    step_timeout_s: float
    #: Rows of the persistence workloads (a million in a full run, as the issue's targets).
    persistence_rows: int = 1_000_000
    analysis_rows: int = 100_000   # analysis summaries: 10 columns, 10 groups
    render_columns: int = 50       # x 2 render modes = the figures rendered
    #: Start no repetition after the first that would end past this many seconds (None: no
    #: limit); quick and smoke runs must finish in bounded time on a noisy machine.
    time_budget_s: float | None = None
    #: Compression: files of the per-row overhead experiment (one cheap codec), and files of
    #: the scaling one (x 3 real codecs, on 1 and 2 workers).
    compression_files: int = 200
    compression_scaling_files: int = 100
    #: SummaryTable: rows of the reference DataFrame and its groups (5 statistics each).
    summary_rows: int = 100_000
    summary_groups: int = 100
    #: enb.parallel: trivial calls started and gathered (enb 1.1.3 runs ~400 calls/s).
    parallel_calls: int = 10_000
    enb113_parallel_calls: int = 2_000


MODES = {
    "full": Sizes(repetitions=5, trivial_rows=10_000, enb113_trivial_rows=1_000,
                  cpu_rows=64, cpu_samples=48_000_000,
                  montecarlo_rows=128, montecarlo_samples=10_000_000, step_timeout_s=900),
    "quick": Sizes(repetitions=3, trivial_rows=1_000, enb113_trivial_rows=300,
                   cpu_rows=16, cpu_samples=12_000_000,
                   montecarlo_rows=16, montecarlo_samples=2_000_000, step_timeout_s=300,
                   persistence_rows=50_000, time_budget_s=105,
                   compression_files=100, compression_scaling_files=20,
                   summary_rows=20_000, summary_groups=20, parallel_calls=2_000,
                   analysis_rows=20_000, render_columns=10),
    "smoke": Sizes(repetitions=1, trivial_rows=300, enb113_trivial_rows=100,
                   cpu_rows=4, cpu_samples=3_000_000,
                   montecarlo_rows=4, montecarlo_samples=500_000, step_timeout_s=120,
                   persistence_rows=2_000, time_budget_s=50,
                   compression_files=20, compression_scaling_files=6,
                   summary_rows=5_000, summary_groups=10, parallel_calls=500,
                   enb113_parallel_calls=200,
                   analysis_rows=2_000, render_columns=1),
}


@dataclasses.dataclass(frozen=True)
class Step:
    label: str
    script: str
    params: dict


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    title: str
    #: (sizes, implementation key) -> the steps, in order; "ideal" may differ from enb's.
    steps: Callable[[Sizes, str], tuple[Step, ...]]
    #: False: the executor cannot matter (``import enb``): run once, not once per executor.
    per_executor: bool = True
    #: Only these executors (None: all).
    executors: tuple[str, ...] | None = None
    #: Why enb 1.1.3 is not run on this workload (None: it is).
    enb113_skip: str | None = None
    has_ideal: bool = True


def _trivial_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    rows = sizes.enb113_trivial_rows if impl == "enb113" else sizes.trivial_rows
    return (Step("create", "trivial.py", {"rows": rows, "cpu_limit": 2, "warm": impl == "ours"}),
            Step("reload", "trivial.py", {"rows": rows, "cpu_limit": 2, "phase": "reload"}))


def _cpu_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    params = {"rows": sizes.cpu_rows, "samples": sizes.cpu_samples}
    if impl == "ideal":
        return (Step("bare", "cpu_bound.py", {**params, "ideal_rows": min(8, sizes.cpu_rows)}),)
    return (Step("w1", "cpu_bound.py", {**params, "cpu_limit": 1}),
            Step("w2", "cpu_bound.py", {**params, "cpu_limit": 2}))


def _montecarlo_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    return (Step("run", "montecarlo_pi.py", {"rows": sizes.montecarlo_rows,
                                             "samples": sizes.montecarlo_samples,
                                             "ideal_rows": min(6, sizes.montecarlo_rows)}),)


def _persistence_steps(kind: str):
    """Steps of a persistence workload of ``kind`` (see workloads/persistence_scale.py)."""
    def steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
        params = {"rows": sizes.persistence_rows, "kind": kind, "cpu_limit": 2}
        made = (Step("create", "persistence_scale.py", params),
                Step("reload", "persistence_scale.py", {**params, "phase": "reload"}))
        if impl == "ideal":
            return made
        # pandas.read_csv of the very file the create step wrote: the reload's yardstick
        return made + (Step("read_csv", "persistence_scale.py", {**params, "phase": "read_csv"}),)
    return steps


def _bringup_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    # 40 rows of 0.25 s: 5 s of work for the head's 2 CPUs alone, so the nodes, which join
    # while the head already computes, get rows.
    return (Step("run", "bringup.py", {"rows": 40, "delay": 0.25}),)


def _compression_overhead_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    return (Step("run", "compression.py", {"phase": "overhead",
                                           "files": sizes.compression_files}),)


def _compression_scaling_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    params = {"phase": "scaling", "files": sizes.compression_scaling_files}
    if impl == "ideal":
        return (Step("bare", "compression.py", params),)
    return (Step("w1", "compression.py", {**params, "cpu_limit": 1}),
            Step("w2", "compression.py", {**params, "cpu_limit": 2}))

_ENB113_TOO_SLOW = ("enb 1.1.3 computes ~125 trivial rows/s here: a million rows would take over "
                    "two hours per repetition")

def _summary_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    return (Step("run", "summary_table.py", {"rows": sizes.summary_rows,
                                             "groups": sizes.summary_groups, "cpu_limit": 2}),)


def _parallel_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    calls = sizes.enb113_parallel_calls if impl == "enb113" else sizes.parallel_calls
    return (Step("run", "parallel_calls.py", {"calls": calls, "cpu_limit": 2}),)


def _analysis_summary_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    return (Step("run", "analysis_summary.py", {"rows": sizes.analysis_rows}),)


def _analysis_render_steps(sizes: Sizes, impl: str) -> tuple[Step, ...]:
    params = {"columns": sizes.render_columns}
    if impl == "ideal":
        return (Step("bare", "analysis_render.py",
                     {**params, "ideal_figures": min(6, 2 * sizes.render_columns)}),)
    return (Step("w1", "analysis_render.py", {**params, "cpu_limit": 1}),
            Step("w2", "analysis_render.py", {**params, "cpu_limit": 2}))


WORKLOADS = (
    Workload("trivial", "trivial table, 3 columns: first get_df, then reload", _trivial_steps),
    Workload("import", "import enb", lambda sizes, impl: (Step("run", "import_enb.py", {}),),
             per_executor=False),
    Workload("cpu-bound", "CPU-bound rows on 1 and 2 workers", _cpu_steps),
    Workload("montecarlo-pi", "montecarlo-pi experiment", _montecarlo_steps),
    Workload("compression-overhead", "compression experiment, one copying codec: enb's cost "
             "per row", _compression_overhead_steps, executors=("local-process",)),
    Workload("compression-scaling", "compression experiment, 3 real codecs, on 1 and 2 workers",
             _compression_scaling_steps, executors=("local-process",),
             enb113_skip="the target is ours on 2 workers against ours on 1"),
    Workload("persistence", "a million rows x 3 cheap columns: first get_df, reload, "
                            "read_csv of the same file", _persistence_steps("cheap"),
             executors=("local-process",), enb113_skip=_ENB113_TOO_SLOW),
    Workload("persistence-mixed", "a million rows x 10 columns of mixed kinds: first get_df, "
                                  "reload, read_csv of the same file",
             _persistence_steps("mixed"), executors=("local-process",),
             enb113_skip=_ENB113_TOO_SLOW),
    Workload("summary", "SummaryTable: 100 groups of 100,000 rows, 5 statistics",
             _summary_steps),
    Workload("parallel", "enb.parallel: trivial calls started and gathered", _parallel_steps),
    Workload("bringup", "cluster bring-up to first remote result", _bringup_steps,
             executors=("ssh-ray-cluster",),
             enb113_skip="enb 1.1.3's cluster head does not start on ray 2.60 "
                         "(--gcs-server-port); not comparable"),
    Workload("analysis-summary", "analysis summaries (no figures)", _analysis_summary_steps,
             per_executor=False),
    Workload("analysis-render", "rendering an analysis's figures on 1 and 2 workers",
             _analysis_render_steps,
             enb113_skip="its target is ours on 2 workers against 1; enb 1.1.3 would add "
                         "minutes per repetition (benchmarks/README.md has one measure)"),
)


# ---------------------------------------------------------------- metrics and targets

_OPS = {">=": operator.ge, "<=": operator.le}


@dataclasses.dataclass(frozen=True)
class Target:
    op: str                 # ">=" or "<="
    threshold: float
    text: str
    #: "value": compare ours' median; "ratio_to_ideal": compare ours' median / the ideal's;
    #: "ratio_to_enb113": ours' median / enb 1.1.3's, measured in the same run.
    on: str = "value"

    def met(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str                # "<report workload>.<name>", unique
    workload: str           # the Workload whose steps it reads
    label: str
    unit: str
    higher_is_better: bool
    value: Callable[[Steps], float]
    ideal: Callable[[Steps], float] | None = None
    #: executor -> target; "*" applies to every executor without an entry of its own.
    targets: dict[str, Target] = dataclasses.field(default_factory=dict)
    #: Report ours on each executor as a ratio to ours on this executor, same repetition.
    relative_to: str | None = None
    #: Shown under the table when this metric appears.
    note: str | None = None
    #: False: enb 1.1.3 is not measured on this metric (its pool starts on every get_df).
    compare_enb113: bool = True

    def target_for(self, executor: str | None) -> Target | None:
        return self.targets.get(executor or "*", self.targets.get("*"))


def _get(step: str, name: str) -> Callable[[Steps], float]:
    return lambda steps: steps[step][name]


def _cpu_ideal_t1(steps: Steps) -> float:
    return steps["bare"]["per_row_s"] * steps["bare"]["rows"]


def _ratio(step: str, name: str, to_step: str, to_name: str) -> Callable[[Steps], float]:
    return lambda steps: steps[step][name] / steps[to_step][to_name]


def _persistence_metrics(workload: str, prefix: str, reload_target: float,
                         rows_target: float | None) -> tuple[Metric, ...]:
    what = "3 cheap columns" if workload == "persistence" else "10 mixed columns"
    return (
        Metric(f"{prefix}.rows_per_s", workload, f"(f) {what}, first get_df, 2 workers",
               "rows/s", True, _get("create", "rows_per_s"), _get("create", "rows_per_s"),
               targets={"local-process": Target(">=", rows_target, f">= {rows_target:,.0f} rows/s")}
               if rows_target else {},
               note="ideal: the same column functions on a bare multiprocessing pool of 2, the "
                    "CSV written by pandas (to_csv)"),
        Metric(f"{prefix}.create_cpu_s", workload, f"(f) {what}, first get_df: CPU seconds of "
                                                   f"all processes",
               "s", False, _get("create", "outside_cpu_s"), _get("create", "outside_cpu_s"),
               note="CPU seconds (user + system, head and workers) do not depend on how many "
                    "cores other jobs take from a shared machine"),
        Metric(f"{prefix}.reload_vs_read_csv", workload,
               f"(g) {what}, reload in a fresh process / pandas.read_csv of the same file in "
               f"a fresh process (whole processes)", "x", False,
               _ratio("reload", "outside_wall_s", "read_csv", "outside_wall_s"),
               targets={"local-process": Target("<=", reload_target, f"<= {reload_target:g}x")}),
        Metric(f"{prefix}.reload_get_df_vs_read_csv", workload,
               f"(g) {what}, get_df / read_csv inside those processes", "x", False,
               _ratio("reload", "get_df_s", "read_csv", "read_s")),
        Metric(f"{prefix}.reload_cpu_vs_read_csv", workload,
               f"(g) {what}, reload / read_csv, CPU seconds", "x", False,
               _ratio("reload", "outside_cpu_s", "read_csv", "outside_cpu_s")),
        Metric(f"{prefix}.reload_rss_vs_read_csv", workload,
               f"(g) {what}, reload / read_csv, peak RSS", "x", False,
               _ratio("reload", "outside_peak_rss_mb", "read_csv", "outside_peak_rss_mb"),
               targets={"local-process": Target("<=", 1.5, "<= 1.5x")}
               if workload == "persistence" else {}),
        Metric(f"{prefix}.read_csv_s", workload,
               f"(g) {what}, pandas.read_csv of the file, whole process", "s", False,
               _get("read_csv", "outside_wall_s"), _get("reload", "outside_wall_s"),
               compare_enb113=False,
               note="ideal: read_csv of the ideal's own CSV (no key or timestamp columns)"),
    )


def _montecarlo_ideal(steps: Steps) -> float:
    run = steps["run"]
    return run["per_row_s"] * run["rows"] / run["workers"]


METRICS = (
    Metric("trivial.rows_per_s", "trivial", "(a) trivial table, first get_df, 2 workers",
           "rows/s", True, _get("create", "rows_per_s"), _get("create", "rows_per_s"),
           targets={"local-process": Target(">=", 50_000, ">= 50,000 rows/s")},
           note="ideal: the three column functions called in a plain loop, one process"),
    Metric("trivial.warm_rows_per_s", "trivial",
           "(a) trivial table, a second get_df in the same process (executor up)",
           "rows/s", True, _get("create", "warm_rows_per_s"), _get("create", "rows_per_s"),
           targets={"ssh-ray-cluster": Target(">=", 10_000, ">= 10,000 rows/s")},
           compare_enb113=False,
           note="the cluster's rows/s target is read here, with the bring-up (its own "
                "target) out of the measure"),
    Metric("reload.wall_s", "trivial", "(b) reload in a fresh process, import included",
           "s", False, _get("reload", "outside_wall_s"), _get("reload", "outside_wall_s"),
           targets={"*": Target("<=", 0.6, "<= 0.6 s")},
           note="ideal: a fresh interpreter that imports pandas and reads the same rows "
                "from a CSV"),
    Metric("import.wall_s", "import", "(c) import enb, whole process",
           "s", False, _get("run", "outside_wall_s"), _get("run", "outside_wall_s"),
           note="ideal: the bare interpreter (same script without the import)"),
    Metric("import.peak_rss_mb", "import", "(c) import enb, peak RSS",
           "MB", False, _get("run", "peak_rss_mb"), _get("run", "peak_rss_mb")),
    Metric("cpu-bound.t1_s", "cpu-bound", "(d) CPU-bound get_df, 1 worker",
           "s", False, _get("w1", "get_df_s"), _cpu_ideal_t1,
           note="ideal: rows x the bare per-row time (a few rows timed in a plain loop)"),
    Metric("cpu-bound.t2_s", "cpu-bound", "(d) CPU-bound get_df, 2 workers",
           "s", False, _get("w2", "get_df_s"), lambda steps: _cpu_ideal_t1(steps) / 2),
    Metric("cpu-bound.speedup", "cpu-bound", "(d) CPU-bound speedup t1/t2",
           "x", True, lambda steps: steps["w1"]["get_df_s"] / steps["w2"]["get_df_s"],
           lambda steps: 2.0,
           targets={"*": Target(">=", 1.9, ">= 1.9x")}),
    Metric("cpu-bound.efficiency", "cpu-bound", "(d) CPU-bound parallel efficiency t1/(2 t2)",
           "", True, lambda steps: steps["w1"]["get_df_s"] / (2 * steps["w2"]["get_df_s"]),
           lambda steps: 1.0,
           note="ideal: perfect scaling"),
    Metric("montecarlo-pi.total_s", "montecarlo-pi", "(e) montecarlo-pi, whole process",
           "s", False, _get("run", "outside_wall_s"), _montecarlo_ideal,
           note="ideal: rows x the bare per-row time / cores (no start-up)"),
    Metric("montecarlo-pi.get_df_s", "montecarlo-pi", "(e) montecarlo-pi, get_df",
           "s", False, _get("run", "get_df_s"), _montecarlo_ideal),
    Metric("montecarlo-pi.main_peak_rss_mb", "montecarlo-pi",
           "(e) montecarlo-pi, main-process peak RSS", "MB", False,
           _get("run", "main_peak_rss_mb"),
           targets={"*": Target("<=", 150, "<= 150 MB")}),
    Metric("montecarlo-pi.session_peak_rss_mb", "montecarlo-pi",
           "(e) montecarlo-pi, all processes' RSS (sampled peak)", "MB", False,
           _get("run", "session_peak_rss_mb")),
    Metric("montecarlo-pi.vs_local_process", "montecarlo-pi",
           "(e) montecarlo-pi time / local-process time", "x", False,
           _get("run", "outside_wall_s"), relative_to="local-process",
           targets={"local-ray": Target("<=", 1.10, "within 10% of local-process")},
           note="`python -m benchmarks.ray_floor` measures the floor ray's own processes "
                "set for local-ray here (benchmarks/README.md)"),
    Metric("compression.own_ms_per_row", "compression-overhead",
           "compression row, enb's own cost (row time minus the codec's, 1 worker)", "ms",
           False, _get("run", "own_ms_per_row"), _get("run", "own_ms_per_row"),
           targets={"local-process": Target("<=", 5.0, "<= 5 ms")},
           note="ideal: each row's file work (2 copies, a comparison, a sha256) in a plain "
                "loop; the dataset table is built before the clock starts"),
    Metric("compression.own_vs_enb113", "compression-overhead",
           "compression row, enb's own cost, against enb 1.1.3's", "ms", False,
           _get("run", "own_ms_per_row"),
           targets={"local-process": Target("<=", 0.1, "<= 0.1x enb 1.1.3",
                                            on="ratio_to_enb113")}),
    Metric("compression.ms_per_row", "compression-overhead",
           "compression row, all included (1 worker, a copying codec)", "ms", False,
           _get("run", "ms_per_row"), _get("run", "ms_per_row")),
    Metric("compression.scaling_speedup", "compression-scaling",
           "compression, 3 codecs: time on 1 worker / on 2", "x", True,
           lambda steps: steps["w1"]["get_df_s"] / steps["w2"]["get_df_s"],
           lambda steps: steps["bare"]["speedup"],
           targets={"*": Target(">=", 1.8, ">= 1.8x")},
           note="ideal: the same compressions on a bare multiprocessing pool of 1, then 2 "
                "processes, in the same repetition: what the machine allowed then"),
    Metric("compression.scaling_t2_s", "compression-scaling",
           "compression, 3 codecs, 2 workers", "s", False, _get("w2", "get_df_s")),
    *_persistence_metrics("persistence", "persistence", reload_target=1.5,
                          rows_target=250_000),
    *_persistence_metrics("persistence-mixed", "persistence-mixed", reload_target=3.0,
                          rows_target=None),
    Metric("summary.get_df_s", "summary", "SummaryTable get_df, 2 workers", "s", False,
           _get("run", "summary_s"), _get("run", "summary_s"),
           note="ideal: pandas' groupby().agg of the same statistics, in the script's process"),
    Metric("summary.vs_enb113", "summary", "SummaryTable get_df, against enb 1.1.3's", "s",
           False, _get("run", "summary_s"),
           targets={"local-process": Target("<=", 0.05, ">= 20x faster than enb 1.1.3",
                                            on="ratio_to_enb113")},
           note="enb 1.1.3 runs it on its local processes (pathos): the target is ours on "
                "local-process; on local-ray the time includes ray's start (~2 s on a quiet "
                "machine)"),
    Metric("parallel.calls_per_s", "parallel", "enb.parallel calls started and gathered, "
           "2 workers, pool start included", "calls/s", True, _get("run", "calls_per_s"),
           _get("run", "calls_per_s"),
           targets={"local-process": Target(">=", 20_000, ">= 20,000 calls/s")},
           note="ideal: the function called in a plain loop; enb 1.1.3 makes 2,000 calls in "
                "a full run (it runs ~400 calls/s)"),
    Metric("parallel.vs_enb113", "parallel", "enb.parallel calls/s, against enb 1.1.3's",
           "calls/s", True, _get("run", "calls_per_s"),
           targets={"local-process": Target(">=", 20, ">= 20x enb 1.1.3",
                                            on="ratio_to_enb113")}),
    Metric("analysis-summary.total_s", "analysis-summary",
           "(f) analysis summaries: ScalarNumeric (10 columns) + TwoNumeric (5 pairs), "
           "10 groups", "s", False, _get("run", "total_s"), _get("run", "total_s"),
           targets={"*": Target("<=", 0.1, "<= 0.1x enb 1.1.3 (10x faster)",
                                on="ratio_to_enb113")},
           note="summaries only (build_summary_atable(...).get_df() with no render mode), in "
                "the main process whatever the executor; ideal: pandas' groupby aggregation "
                "and scipy's correlations per group"),
    Metric("analysis-summary.scalar_s", "analysis-summary", "(f) ScalarNumericAnalyzer summary",
           "s", False, _get("run", "scalar_s"), _get("run", "scalar_s")),
    Metric("analysis-summary.two_s", "analysis-summary", "(f) TwoNumericAnalyzer summary",
           "s", False, _get("run", "two_s"), _get("run", "two_s")),
    Metric("analysis-render.t1_s", "analysis-render", "(g) analysis with figures, 1 worker",
           "s", False, _get("w1", "get_df_s"), _get("bare", "t1_s"),
           note="histograms and box plots of 50 columns in 3 groups (100 figures, PDF and "
                "300-dpi PNG); ideal: the same kind of figures drawn with plain matplotlib, "
                "per-figure time x figures"),
    Metric("analysis-render.t2_s", "analysis-render", "(g) analysis with figures, 2 workers",
           "s", False, _get("w2", "get_df_s"), lambda steps: steps["bare"]["t1_s"] / 2),
    Metric("analysis-render.speedup", "analysis-render", "(g) figures: speedup t1/t2", "x",
           True, lambda steps: steps["w1"]["get_df_s"] / steps["w2"]["get_df_s"],
           lambda steps: steps["bare"]["t1_s"] / steps["bare"]["t2_bare_pool_s"],
           targets={"*": Target(">=", 1.7, ">= 1.7x")},
           note="ideal: the bare figures' loop time over their time on a bare fork pool of 2"),
    Metric("analysis-render.main_peak_rss_mb", "analysis-render",
           "(g) figures on 2 workers: main-process peak RSS", "MB", False,
           _get("w2", "main_peak_rss_mb"), targets={"*": Target("<=", 300, "<= 300 MB")}),
    Metric("bringup.first_result_s", "bringup",
           "head + nodes up to first remote result", "s", False,
           _get("run", "first_remote_s"), _get("run", "ray_start_s"),
           targets={"ssh-ray-cluster": Target("<=", 1.5, "<= 1.5x one `ray start`",
                                              on="ratio_to_ideal")},
           note="ideal: one local `ray start --head`"),
)

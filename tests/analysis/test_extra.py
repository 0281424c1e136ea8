"""The plot extra: `import enb` loads neither matplotlib nor scipy; without them the first
analysis fails with one line that says what to install."""
import subprocess
import sys
import textwrap

import pytest

import enb


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env={"ENB_IGNORE_ARGV": "1",
                                                       "PATH": "/usr/bin:/bin"})


def test_import_enb_and_its_analysis_modules_load_no_plotting_library():
    done = run_python("""
        import sys, enb
        enb.aanalysis, enb.plotdata, enb.render
        analyzer = enb.aanalysis.ScalarNumericAnalyzer()
        heavy = sorted(m for m in ("matplotlib", "scipy") if m in sys.modules)
        print("loaded:", heavy)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loaded: []"


def test_without_the_extra_the_first_analysis_names_the_extra():
    done = run_python("""
        import sys
        sys.modules["matplotlib"] = None  # as if it were not installed
        import pandas, enb
        enb.aanalysis.ScalarNumericAnalyzer().get_df(
            full_df=pandas.DataFrame({"a": [1.0, 2.0]}), target_columns=["a"])
    """)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("enb.aanalysis.base.PlotExtraMissing: enb.aanalysis needs matplotlib, "
                    "which is not installed: pip install 'enb[plot]'")


def test_plot_extra_missing_is_an_import_error():
    assert issubclass(enb.aanalysis.PlotExtraMissing, ImportError)
    with pytest.raises(TypeError, match="unknown argument"):
        import pandas
        enb.aanalysis.ScalarNumericAnalyzer().get_df(
            full_df=pandas.DataFrame({"a": [1.0, 2.0]}), target_columns=["a"], fig_widht=3)

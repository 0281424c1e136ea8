"""Tables move between this enb and the published enb 1.1.3, both ways (issue 17, item 6).

A 10,000-row table of every value kind enb 1.x writes and reads (ints, floats and NaN, strings
such as "007", quotes, commas and line breaks, bools, lists, dicts, tuples, pickled objects of
the experiment's own class) and a table keyed by awkward strings, declared as enb 1.x users
declare them (round_trip_kinds.py, imported by both enbs):

- written by this enb, then read by enb 1.1.3 (its own venv, Python 3.12, the one the
  benchmarks build) exactly as enb 1.1.3 reads the same tables written by itself: the same
  values and types in every cell, and every row complete by enb 1.1.3's own rule except the
  NaN cells (which enb 1.x recomputes);
- written by enb 1.1.3, then read by this enb in a fresh process with every value equal to
  what the column functions returned and nothing recomputed.

enb 1.1.3 needs ~4 minutes for 10,000 rows here, so its tables are made once per machine and
kept in ~/.cache/enb-tests/, under the hash of round_trip_kinds.py.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ROWS = 10_000
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "enb-tests"

SCRIPT = r'''
import json, os, sys
params = json.loads(os.environ["ROUND_TRIP"])
sys.path.insert(0, params["kinds_dir"])
import enb
import round_trip_kinds as kinds

enb.config.options.cpu_limit = 2
rows = params["rows"]
out = {}
if params["action"] == "write":
    kinds.WITH_NAN = params["nan"]
    kinds.make_table(enb)(csv_support_path=params["csv"], index="i").get_df(
        target_indices=list(range(rows)))
    kinds.make_names_table(enb)(csv_support_path=params["names_csv"], index="name").get_df(
        target_indices=list(kinds.NAMES))
else:
    for label, (csv, names_csv, with_nan) in params["files"].items():
        kinds.WITH_NAN = with_nan
        table = kinds.make_table(enb)(csv_support_path=csv, index="i")
        df = table.get_df(target_indices=list(range(rows)), fill=params["fill"])
        mismatches, types = kinds.compare(df, rows)
        names = kinds.make_names_table(enb)(csv_support_path=names_csv, index="name")
        names_df = names.get_df(target_indices=list(kinds.NAMES), fill=params["fill"])
        report = getattr(table, "last_report", None)
        out[label] = {
            "rows": len(df), "mismatches": mismatches, "types": types,
            # enb 1.x computes again the rows with a null cell (atable.py, get_df_one_chunk)
            "incomplete": int(df[kinds.COLUMNS].isnull().any(axis=1).sum()),
            "computed": None if report is None else report.computed,
            "names_mismatches": kinds.compare_names(names_df)}
with open(params["out"], "w") as handle:
    json.dump(out, handle)
'''


@pytest.fixture(scope="module")
def enb113_python() -> str:
    sys.path.insert(0, str(REPO))
    from benchmarks import implementations
    try:
        return implementations.ensure_enb113(log=lambda message: print(message, flush=True))
    except implementations.Unavailable as error:
        # PyPI and pyenv's Python 3.12 are there in CI: a venv that cannot be made is a failure.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"enb 1.1.3's venv cannot be made here: {error}")


def _run(python: str, params: dict, folder: Path, ours: bool) -> dict:
    script = folder / "round_trip.py"
    script.write_text(SCRIPT)
    out = folder / f"out-{params['action']}-{'ours' if ours else 'enb113'}.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("ENB_")}
    if ours:
        env["PYTHONPATH"] = str(REPO)
    env["ROUND_TRIP"] = json.dumps({**params, "kinds_dir": str(HERE), "rows": ROWS,
                                    "out": str(out)})
    env["XDG_CONFIG_HOME"] = str(folder / "config")  # no user enb.ini in either enb
    done = subprocess.run([python, str(script)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    return json.loads(out.read_text()) if out.exists() else {}


def _theirs(python: str) -> tuple[Path, Path]:
    """Return enb 1.1.3's tables (made once per machine, kept under the kinds' hash)."""
    digest = hashlib.sha256((HERE / "round_trip_kinds.py").read_bytes()
                            + SCRIPT.encode()).hexdigest()[:16]
    folder = CACHE / f"enb113-round-trip-{ROWS}-{digest}"
    csv, names = folder / "theirs.csv", folder / "theirs_names.csv"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "enb113-round-trip.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            _run(python, {"action": "write", "nan": False, "csv": str(csv),
                          "names_csv": str(names)}, folder, ours=False)
            (folder / "done").write_text("written by enb 1.1.3\n")
    return csv, names


def test_tables_written_here_read_in_enb_113_as_its_own_and_back(tmp_path, enb113_python):
    their_csv, their_names = _theirs(enb113_python)
    ours_csv, ours_names = tmp_path / "ours.csv", tmp_path / "ours_names.csv"
    _run(sys.executable, {"action": "write", "nan": True, "csv": str(ours_csv),
                          "names_csv": str(ours_names)}, tmp_path, ours=True)

    # enb 1.1.3 reads ours as it reads its own
    read = _run(enb113_python, {"action": "read", "fill": False, "files": {
        "ours": [str(ours_csv), str(ours_names), True],
        "theirs": [str(their_csv), str(their_names), False]}}, tmp_path, ours=False)
    ours, theirs = read["ours"], read["theirs"]
    assert ours["rows"] == theirs["rows"] == ROWS
    assert ours["types"] == theirs["types"]
    assert ours["mismatches"] == theirs["mismatches"]
    assert ours["names_mismatches"] == theirs["names_mismatches"]
    # what enb 1.1.3 misreads in its own files too: digit-only strings become numbers
    assert {column for _, column, _, _ in ours["mismatches"]} == {"code"}, ours["mismatches"][:5]
    assert {column for _, column, _, _ in ours["names_mismatches"]} <= {"name"}
    assert ours["types"]["as_tuple"] == ["tuple"] and ours["types"]["flag"] == ["bool"]
    assert ours["types"]["as_object"] == ["Point", "dict"]
    assert ours["incomplete"] == ROWS // 10 and theirs["incomplete"] == 0  # the NaN rows

    # ours reads enb 1.1.3's tables with every value as it was, computing nothing (on copies:
    # a regression that computed rows would change the kept files)
    copies = [shutil.copy(path, tmp_path / f"copy_{path.name}") for path in (their_csv,
                                                                            their_names)]
    back = _run(sys.executable, {"action": "read", "fill": True, "files": {
        "theirs": [str(copies[0]), str(copies[1]), False]}}, tmp_path, ours=True)["theirs"]
    assert back["rows"] == ROWS and back["computed"] == 0
    assert back["mismatches"] == [] and back["names_mismatches"] == []
    assert back["types"]["code"] == ["str"] and back["types"]["as_int"] == ["int"]

"""Persistence loses nothing, refuses no value it accepted, and runs no code from a file (issue 17)."""
import contextlib
import csv
import json
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import enb
from enb.atable import ATable, ColumnFailedError, ColumnProperties, CorruptedTableError
from enb.persistence import StorageError, TableStore
from enb.persistence.batch import CellLayout, encode_rows

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = ("__atable_index", "index", "v", "row_created", "row_updated")


def _record(keys):
    rows = [(str((k,)), {"index": k, "v": f"{k:05d}", "row_created": "t", "row_updated": "t"})
            for k in keys]
    return encode_rows(rows, [True] * len(rows), CellLayout(HEADER, {})).record


class Padded(ATable):
    def column_v(self, index, row):
        return f"{index:05d}"


def test_a_torn_journal_is_cut_back_to_its_last_whole_record_at_every_byte(tmp_path, caplog):
    first, last = _record([1, 2]), _record([3, 4])
    for cut in range(1, len(last)):
        path = str(tmp_path / f"t{cut}.csv")
        store = TableStore(path, ["index"], ["v", "row_created", "row_updated"])
        store.append(first)
        store.close_journal()
        with open(path + ".journal", "ab") as journal:
            journal.write(last[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            rows = TableStore(path, ["index"], ["v", "row_created", "row_updated"]).load()
        assert list(rows.keys) == ["(1,)", "(2,)"], cut
        assert "incomplete last record" in caplog.text, cut
        assert not os.path.exists(path + ".journal")  # folded into the CSV
    # and a table whose journal was cut goes on: the rows in flight are computed again
    df = Padded(csv_support_path=path).get_df(target_indices=[1, 2, 3, 4])
    assert list(df["v"]) == ["00001", "00002", "00003", "00004"]


def test_a_short_write_is_cut_back_and_names_the_file(tmp_path, monkeypatch):
    path = str(tmp_path / "t.csv")
    store = TableStore(path, ["index"], ["v", "row_created", "row_updated"])
    store.append(_record([1]))
    real_write = os.write
    calls = []

    def short_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:10]))
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(StorageError, match="t.csv.journal.*No space left"):
        store.append(_record([2]))
    monkeypatch.undo()
    store.close_journal()
    rows = TableStore(path, ["index"], ["v", "row_created", "row_updated"]).load()
    assert list(rows.keys) == ["(1,)"]


_KINDS = r'''
import datetime, math, pathlib, sys
import numpy as np, pandas as pd
import enb
VALUES = [
    np.float64(1.5), np.int64(-3), [np.float64(0.25), np.float64(0.5)],
    {"m": np.float32(0.1), "n": [np.int16(2)]}, [math.nan, math.inf, -math.inf],
    {"when": datetime.datetime(2026, 1, 2, 3, 4, 5, 6)},
    datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    datetime.date(2026, 1, 2), pd.Timestamp("2026-01-02 03:04:05.000000006"), pd.NaT, pd.NA,
    pathlib.Path("/a/b c"), "x" * 200_000, "caf\udce9", "a\rb\x00c", "00042", "",
    np.arange(6).reshape(2, 3), [np.array([1.5, 2.5])], (1, "a"), {1, 2}, b"\x00\xff",
    complex(1, -2), 2 ** 70, True, math.nan,
]
OBJECTS = [pd.Series([1, 2], name="s"), pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
           np.array([1, "a"], dtype=object)]

class Kinds(enb.atable.ATable):
    def column_value(self, index, row):
        return VALUES[index]

    @enb.atable.column_function(enb.atable.ColumnProperties("obj", has_object_values=True))
    def set_obj(self, index, row):
        row["obj"] = OBJECTS[index % len(OBJECTS)]

def same(a, b):
    if isinstance(a, (np.ndarray, pd.Series, pd.DataFrame)):
        return type(a) is type(b) and (a.equals(b) if hasattr(a, "equals") else
                                       a.dtype == b.dtype and np.array_equal(a, b))
    if a is pd.NaT or a is pd.NA:
        return b is a
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b and (type(a) is type(b) or isinstance(a, (np.generic, float, int)))

enb.config.options.cpu_limit = 2
table = Kinds(csv_support_path=sys.argv[1])
df = table.get_df(target_indices=list(range(len(VALUES))), fill=sys.argv[2] == "write")
bad = [(i, repr(v)[:60], repr(c)[:60]) for i, (v, c) in enumerate(zip(VALUES, df["value"]))
       if not same(v, c)]
bad += [(i, "obj") for i, c in enumerate(df["obj"]) if not same(OBJECTS[i % len(OBJECTS)], c)]
print("BAD", bad) if bad else print("SAME")
'''


def test_every_value_kind_comes_back_equal_in_a_fresh_process(tmp_path):
    script = tmp_path / "kinds.py"
    script.write_text(_KINDS)
    env = dict(os.environ, ENB_IGNORE_ARGV="1", PYTHONPATH=REPO)
    for phase in ("write", "read"):
        done = subprocess.run([sys.executable, str(script), str(tmp_path / "k.csv"), phase],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.split()[-1] == "SAME", (phase, done.stdout[-3000:])


class Echo(ATable):
    def column_v(self, index, row):
        return repr(index)


def test_numpy_index_values_make_the_same_keys_as_python_ones(tmp_path):
    path = tmp_path / "n.csv"
    Padded(csv_support_path=path).get_df(target_indices=np.arange(5))
    table = Padded(csv_support_path=path)
    df = table.get_df(target_indices=list(range(5)))
    assert table.last_report.computed == 0 and list(df.index) == [str((i,)) for i in range(5)]
    Echo(csv_support_path=tmp_path / "f.csv").get_df(target_indices=np.linspace(0, 1, 3))
    again = Echo(csv_support_path=tmp_path / "f.csv")
    df = again.get_df(target_indices=[0.0, 0.5, 1.0])
    assert again.last_report.computed == 0 and list(df["v"]) == ["0.0", "0.5", "1.0"]


@pytest.mark.parametrize("bad", [float("nan"), object()])
def test_an_index_value_that_cannot_make_a_key_is_refused_up_front(tmp_path, bad):
    with pytest.raises((ValueError, TypeError), match="cannot make a row key"):
        Padded(csv_support_path=tmp_path / "x.csv").get_df(target_indices=[1, bad])
    assert not (tmp_path / "x.csv").exists()


class Unstorable(ATable):
    def column_v(self, index, row):
        if index == 3:
            return threading.Lock()
        if index == 7:
            return 10 ** 5000 if sys.get_int_max_str_digits() else 0
        if index == 9:
            return "caf\udce9"  # as os.listdir returns a name that is not UTF-8: stored
        return index


@pytest.mark.parametrize("executor", ["local-process", "local-ray"])
def test_a_value_that_cannot_be_stored_fails_its_row_alone(tmp_path, executor):
    if executor == "local-ray":
        pytest.importorskip("ray")
        # A port block of its own, as tests/executors does: the default range may be taken by
        # a ray that someone else runs on this machine.
        enb.config.options.ray_port = 25000 + (os.getpid() % 50) * 100
        enb.config.options.ray_port_count = 100
    enb.config.options.executor = executor
    enb.config.options.cpu_limit = 2
    try:
        with pytest.raises(ColumnFailedError) as caught:
            Unstorable(csv_support_path=tmp_path / "u.csv").get_df(target_indices=range(50))
    finally:
        enb.config.options.executor = "local-process"
    failed = {e.index: e for e in caught.value.exception_list}
    assert set(failed) == {3, 7}
    assert "_thread.lock" in failed[3].msg and failed[3].column == "v"
    assert "digits" in failed[7].msg
    df = Unstorable(csv_support_path=tmp_path / "u.csv").get_df(target_indices=range(50),
                                                                fill=False)
    assert len(df) == 50 and df.set_index("index").loc[9, "v"] == "caf\udce9"
    assert sum(v is not None for v in df["v"]) == 48


def test_a_lost_types_file_or_a_row_deleted_by_hand_keeps_00042_a_string(tmp_path):
    path = tmp_path / "p.csv"
    Padded(csv_support_path=path).get_df(target_indices=[42, 43])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")  # row 43 deleted by hand
    df = Padded(csv_support_path=path).get_df(target_indices=[42], fill=False)
    assert list(df["v"]) == ["00042"]
    os.unlink(str(path) + ".types")
    df = Padded(csv_support_path=path).get_df(target_indices=[42, 43])
    assert list(df["v"]) == ["00042", "00043"]
    assert '"(42,)",42,00042,' in path.read_text()


def _pwned(tmp_path):
    return tmp_path / "pwned"


def test_crafted_cells_types_files_and_journals_run_no_code(tmp_path):
    import operator
    marker = _pwned(tmp_path)

    assert operator.attrgetter  # the chain below names it: a class, so "classes only" let it in
    chain = (b"cposixpath\nsep\n" if False else b"") + (
        b"coperator\nattrgetter\n(S'__init__.__globals__'\ntR(cdatetime\ndatetime\n"
        b"tR.")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    class Objects(ATable):
        @enb.atable.column_function(ColumnProperties("o", has_object_values=True))
        def set_o(self, index, row):
            row["o"] = 1

    for payload in (pickle.dumps(Evil()), chain):
        path = tmp_path / "o.csv"
        cell = repr(payload).replace('"', '""')
        path.write_text('__atable_index,index,o,row_created,row_updated\n'
                        f'"(1,)",1,"{cell}",x,y\n')
        with pytest.raises(CorruptedTableError, match="refusing"):
            Objects(csv_support_path=path).get_df(target_indices=[1])
    # a types file marking an undeclared column as pickled does not make it one
    path = tmp_path / "s.csv"
    cell = repr(pickle.dumps(Evil())).replace('"', '""')
    path.write_text(f'__atable_index,index,v,row_created,row_updated\n"(1,)",1,"{cell}",x,y\n')
    size = path.stat().st_size
    (tmp_path / "s.csv.types").write_text(json.dumps({"enb_types": 2, "generations": [
        {"csv_size": size, "csv_sha256": "0", "columns": {"v": "pickle"}}]}))
    df = Padded(csv_support_path=path).get_df(target_indices=[1], fill=False)
    assert df["v"].iloc[0].startswith("b'")
    # a journal cell of any tag is text, decoded by the same safe readers
    path = tmp_path / "j.csv"
    with open(str(path) + ".journal", "wb") as journal:
        from enb.persistence.journal import MAGIC, encode_record
        journal.write(MAGIC + encode_record(
            HEADER, ["(1,)"], {"index": "int", "v": "literal", "row_created": "str",
                               "row_updated": "str"},
            f'"(1,)",1,"__import__(\'os\').system(\'touch {marker}\')",t,t\n'.encode(), True))
    with pytest.raises(CorruptedTableError,
                       match=r"j\.csv\.journal:2: column 'v': cannot read .* as literal"):
        Padded(csv_support_path=path).get_df(target_indices=[1], fill=False)
    assert not marker.exists()


def test_a_journal_planted_by_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    path = tmp_path / "t.csv"
    store = TableStore(str(path), ["index"], ["v", "row_created", "row_updated"])
    store.append(_record([1]))
    store.close_journal()
    os.chown(str(path) + ".journal", 12345, 12345)
    with pytest.raises(CorruptedTableError, match="uid 12345.*does not adopt"):
        Padded(csv_support_path=path).get_df(target_indices=[1])
    os.chown(str(path) + ".journal", 0, 0)
    os.chmod(str(path) + ".journal", 0o666)
    with pytest.raises(CorruptedTableError, match="writable by other users"):
        Padded(csv_support_path=path).get_df(target_indices=[1])


@contextlib.contextmanager
def _read_only_view(folder):
    view = folder.parent / (folder.name + "-ro")
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_a_table_on_a_read_only_mount_loads(tmp_path, caplog):
    if os.geteuid() != 0:
        pytest.skip("needs root for a read-only bind mount")
    folder = tmp_path / "data"
    folder.mkdir()
    Padded(csv_support_path=folder / "r.csv").get_df(target_indices=[1, 2])
    os.unlink(folder / "r.csv.lock")
    with _read_only_view(folder) as view:
        enb.config.options.verbose = 1
        try:
            with caplog.at_level(logging.INFO, logger="enb"):
                df = Padded(csv_support_path=view / "r.csv").get_df(target_indices=[1, 2])
        finally:
            enb.config.options.verbose = 0
        assert list(df["v"]) == ["00001", "00002"]
        assert "without a lock" in caplog.text


def test_a_types_file_that_is_json_but_not_an_object_is_a_clear_error(tmp_path):
    path = tmp_path / "t.csv"
    Padded(csv_support_path=path).get_df(target_indices=[1])
    (tmp_path / "t.csv.types").write_text("[1, 2]")
    with pytest.raises(CorruptedTableError, match=r"t\.csv\.types: a JSON list, not an object"):
        Padded(csv_support_path=path).get_df(target_indices=[1])


def test_a_wait_for_the_lock_is_said_with_the_holder_pid(tmp_path, caplog):
    path = tmp_path / "t.csv"
    Padded(csv_support_path=path).get_df(target_indices=[1])
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, sys, time
        f = open({str(path) + '.lock'!r}, 'a')
        fcntl.flock(f, fcntl.LOCK_EX)
        print('held', flush=True)
        time.sleep(2.5)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with caplog.at_level(logging.WARNING):
            Padded(csv_support_path=path).get_df(target_indices=[1, 2])
        assert f"waiting for the lock of {path}: process {holder.pid}" in caplog.text
    finally:
        holder.kill()
        holder.wait()


def test_a_full_disk_names_the_file_and_keeps_what_was_stored(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        Padded(csv_support_path=folder / "d.csv").get_df(target_indices=range(10))
        before = (folder / "d.csv").read_bytes()
        with pytest.raises(StorageError, match=r"d\.csv.*(No space|no byte)"):
            Padded(csv_support_path=folder / "d.csv").get_df(target_indices=range(10, 4000))
        after = (folder / "d.csv").read_bytes()
        leftovers = {p.name: p.read_bytes() for p in folder.iterdir()}
    finally:
        subprocess.run(["umount", str(folder)], check=True)
    # The stored rows are kept byte for byte. Rows that finished before the disk filled are
    # folded in on the error when the fold itself fits (how many depends on the chunk sizes
    # the run chose): each of them whole and right.
    before_lines, after_lines = before.splitlines(), after.splitlines()
    assert after_lines[0] == before_lines[0] and set(before_lines) <= set(after_lines)
    added = list(csv.reader(line.decode() for line in after_lines
                            if line not in set(before_lines)))
    assert all(len(cells) == 5 and cells[2] == f"{int(cells[1]):05d}" and
               cells[0] == f"({cells[1]},)" and 10 <= int(cells[1]) < 4000 for cells in added)
    # What is left in the folder (the CSV, a journal the fold could not take) loads elsewhere,
    # the ten stored rows as they were, not computed again.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, data in leftovers.items():
        (copy / name).write_bytes(data)
    reloaded = Padded(csv_support_path=copy / "d.csv").get_df(target_indices=range(10))
    assert list(reloaded["v"]) == [f"{i:05d}" for i in range(10)]
    assert list(reloaded["row_created"].astype(str)) == [
        cells[3] for cells in csv.reader(line.decode() for line in before_lines[1:])]

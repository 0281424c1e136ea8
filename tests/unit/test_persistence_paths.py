"""The fast paths of persistence give what the general ones give (issue 17, item 5).

Int targets are matched by value, journals are folded by appending or by merging column by
column, literal columns are read through the JSON parser and rows are written with str.join:
each is checked here against the general rule it stands for.
"""
import ast
import csv
import gc
import io
import json
import math
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from enb.atable import ATable
from enb.persistence import TableStore
from enb.persistence.batch import CellLayout, _by_csv_writer, _csv_body, encode_rows
from enb.persistence.combine import merge
from enb.persistence.literal_columns import read_literal_column
from enb.persistence.literals import read_literal, write_literal

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
class Squares(ATable):
    def column_square(self, index, row):
        return index * index

    def column_label(self, index, row):
        return f"{index:04d}"


def _frame(df):
    return df.reset_index().astype(object).values.tolist()


@pytest.mark.parametrize("targets", [range(-5, 40), list(range(-5, 40)),
                                     np.arange(-5, 40), np.arange(0, 40, dtype=np.uint8)])
def test_int_targets_give_the_rows_and_keys_other_indices_give(tmp_path, targets):
    fast = Squares(csv_support_path=tmp_path / "fast.csv").get_df(target_indices=targets)
    general = Squares(csv_support_path=tmp_path / "general.csv").get_df(
        target_indices=[(int(t),) for t in targets])  # tuples: keys built one by one
    assert list(fast.index) == [str((int(t),)) for t in targets]
    assert _frame(fast[["square", "label"]]) == _frame(general[["square", "label"]])
    assert gc.isenabled()


def test_a_large_table_with_a_few_missing_rows_computes_them_and_appends_them(tmp_path):
    path = tmp_path / "t.csv"
    Squares(csv_support_path=path).get_df(target_indices=range(0, 3000, 2))
    before = path.read_bytes()
    wanted = [7, 3000, 11] + list(range(0, 3000, 2))[::-1]  # another order, three new rows
    table = Squares(csv_support_path=path)
    df = table.get_df(target_indices=wanted)
    assert (table.last_report.computed, table.last_report.loaded) == (3, 1500)
    assert list(df["square"]) == [t * t for t in wanted]
    assert list(df.index) == [f"({t},)" for t in wanted]
    after = path.read_bytes()
    assert after.startswith(before)  # old rows kept byte for byte, new ones after them
    added = list(csv.reader(io.StringIO(after[len(before):].decode())))
    assert [row[1] for row in added] == ["7", "3000", "11"]  # in target order
    again = Squares(csv_support_path=path).get_df(target_indices=wanted)
    assert _frame(again) == _frame(df)


class Echo(ATable):
    def column_v(self, index, row):
        return repr(index)


def test_ints_stored_as_strings_are_other_rows(tmp_path):
    path = tmp_path / "t.csv"
    Echo(csv_support_path=path).get_df(target_indices=["1", "2"])
    # the int 1 is the row "(1,)", not "('1',)": computed, never taken for the stored one
    table = Echo(csv_support_path=path)
    df = table.get_df(target_indices=[1, 2, "2"])
    assert table.last_report.computed == 2
    assert list(df["v"]) == ["1", "2", "'2'"]


class Grows(ATable):
    def column_a(self, index, row):
        return index if index % 3 else float(index)  # ints and floats in one column


def test_a_column_added_to_a_stored_table_is_merged_cell_by_cell(tmp_path):
    path = tmp_path / "g.csv"
    Grows(csv_support_path=path).get_df(target_indices=range(30))

    class GrowsMore(Grows):
        def column_b(self, index, row):
            return [index, {"even": index % 2 == 0, "none": None}]

    df = GrowsMore(csv_support_path=path).get_df(target_indices=range(40))
    expected_a = [i if i % 3 else float(i) for i in range(40)]
    assert list(df["a"]) == expected_a
    assert [type(v) for v in df["a"]] == [type(v) for v in expected_a]
    assert list(df["b"]) == [[i, {"even": i % 2 == 0, "none": None}] for i in range(40)]
    script = tmp_path / "reload.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        from enb.atable import ATable
        class Grows(ATable):
            def column_a(self, index, row):
                raise AssertionError("recomputed")
            def column_b(self, index, row):
                raise AssertionError("recomputed")
        df = Grows(csv_support_path={str(path)!r}).get_df(target_indices=range(40))
        print(repr([list(df["a"]), [type(v).__name__ for v in df["a"]], list(df["b"])]))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, ENB_IGNORE_ARGV="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    values, kinds, lists = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert values == expected_a and kinds == [type(v).__name__ for v in expected_a]
    assert lists == [[i, {"even": i % 2 == 0, "none": None}] for i in range(40)]


HEADER = ("__atable_index", "index", "x", "y", "row_created", "row_updated")


def _record(rows, new):
    return encode_rows(rows, new, CellLayout(HEADER, {})).record


def test_a_row_journaled_twice_keeps_the_later_cells_and_the_earlier_ones_it_lacks(tmp_path):
    path = str(tmp_path / "j.csv")
    store = TableStore(path, ["index"], ["x", "y", "row_created", "row_updated"])
    full = {"index": 1, "x": "old", "y": "kept", "row_created": "t0", "row_updated": "t0"}
    store.append(_record([("(1,)", full)], [True]))
    store.append(_record([("(1,)", {"x": "new", "row_updated": "t1"})], [False]))
    store.close_journal()
    rows = TableStore(path, ["index"], ["x", "y", "row_created", "row_updated"]).load()
    cells = rows.cells(0)
    assert (cells["x"], cells["y"], cells["row_created"], cells["row_updated"]) == \
        ("new", "kept", "t0", "t1")
    with open(path, newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [(r["x"], r["y"], r["row_updated"]) for r in written] == [("new", "kept", "t1")]


def test_merge_gives_what_applying_the_rows_one_by_one_gives():
    rng = random.Random(7)
    store = TableStore(os.devnull, ["index"], ["x", "y", "row_created", "row_updated"])
    for trial in range(30):
        records, expected = [], {}
        for _ in range(rng.randint(1, 5)):
            rows, new = [], []
            for key in rng.sample(range(12), rng.randint(1, 6)):
                cells = {c: rng.choice([key, key * 0.5, f"s{key}", True, [key]])
                         for c in ("x", "y") if rng.random() < 0.7}
                cells["row_updated"] = f"t{trial}"
                if str((key,)) not in expected:
                    cells.update(index=key, row_created="c")
                rows.append((str((key,)), cells))
                new.append(False)
                expected.setdefault(str((key,)), {}).update(cells)
            records.append(rows)
        from enb.persistence.journal import decode_record
        encoded = [encode_rows(r, [False] * len(r), CellLayout(HEADER, {})) for r in records]
        decoded = [decode_record(e.record)[0] for e in encoded]
        merged = store._merged(None, decoded)
        # The rows as the workers decoded them give the same table as the journal's text.
        assert_same_rows(store._merged(None, decoded, [e.batch for e in encoded]), merged)
        for position, key in enumerate(merged.keys):
            got = merged.cells(position)
            want = {c: v for c, v in expected[key].items()}
            assert got == want and [type(got[c]) for c in want] == \
                [type(want[c]) for c in want], (trial, key)
        assert sorted(merged.keys) == sorted(expected)
        assert merge(merged, merged).keys.tolist() == merged.keys.tolist()


def assert_same_rows(got, want):
    """Two StoredRows hold the same keys, header, tags, absent cells and values of the same
    types (and numpy dtypes)."""
    assert list(got.header) == list(want.header)
    assert got.keys.tolist() == want.keys.tolist() and got.keys.dtype == want.keys.dtype
    assert got.tags == want.tags
    assert set(got.absent) == set(want.absent)
    for column, mask in want.absent.items():
        assert (got.absent[column] == mask).all(), column
    assert set(got.columns) == set(want.columns)
    for column, values in want.columns.items():
        mine = got.columns[column]
        assert mine.dtype == values.dtype, (column, mine.dtype, values.dtype)
        assert [(type(v), repr(v)) for v in mine.tolist()] == \
            [(type(v), repr(v)) for v in values.tolist()], column
        if values.dtype == object:
            assert [type(v) for v in mine] == [type(v) for v in values], column


_LITERALS = [[1, 2.5, "a"], {"a": True, "b": None, "c": False}, {"x": "True story", "y": "None"},
             [math.inf, -math.inf, math.nan], {"k": [1, {"z": "nan"}]}, [], {}, (1, 2), {1, 2},
             {1: "a"}, ["it's"], ["back\\slash"], [1e16, -0.0, 10 ** 30], {"s": "a'b"},
             [None, True], {"t": "\x01"}, ["ünï", "日本"], [[["deep"]]],
             {"inf": "inf", "nan": 1, "null": "true"}, [1, 2, 3], {"a": [1, 2], "b": {}}]


def _same(a, b) -> bool:
    return repr(a) == repr(b) and type(a) is type(b)


def test_literal_columns_read_through_json_equal_the_literal_reader():
    rng = random.Random(3)
    cells = [rng.choice(_LITERALS) for _ in range(50_000)]
    texts = [write_literal(value) for value in cells]
    read = read_literal_column(texts)
    assert all(_same(read_literal(t), v) for t, v in zip(texts, read))
    # a batch of plain cells, and one odd cell among them, read alike
    plain = [write_literal({"even": i % 2 == 0, "n": i, "none": None}) for i in range(1000)]
    assert read_literal_column(plain) == [read_literal(t) for t in plain]
    odd = plain[:500] + ["(1, 2)"] + plain[500:]
    assert [repr(v) for v in read_literal_column(odd)] == [repr(read_literal(t)) for t in odd]


@pytest.mark.parametrize("text", ["[true]", "[null]", "{'a': NaN}", "[Infinity]", "[1,]x",
                                  "{'a': __import__('os')}"])
def test_text_only_json_or_nothing_reads_is_refused_as_the_literal_reader_refuses_it(text):
    from enb.persistence.literals import LiteralError
    with pytest.raises(LiteralError):
        read_literal(text)
    with pytest.raises(LiteralError):
        read_literal_column([text, "[1]"])


def test_rows_written_with_join_are_what_csv_writer_writes():
    rng = random.Random(1)
    alphabet = ["a", " ", ",", '"', "\n", "\r", "é", "'", "\t", "", "x y"]
    for _ in range(3000):
        n = rng.randint(1, 5)
        columns = [[str((rng.choice(["a", 1, 'q"', "b,c"]),)) for _ in range(n)]]
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(["int", "float", "bool", "str"])
            columns.append([rng.randint(-10 ** 18, 10 ** 18) if kind == "int" else
                            rng.choice([0.1, math.nan, math.inf, -0.0, 1e300]) if kind == "float"
                            else rng.random() < .5 if kind == "bool" else
                            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
                            for _ in range(n)])
        assert _csv_body(columns) == _by_csv_writer(columns)
    assert list(csv.reader(io.StringIO(_csv_body([["(1,)"], [1.5], ["a,b"]])))) == \
        [["(1,)", "1.5", "a,b"]]


def test_rows_lacking_cells_beside_whole_ones_are_encoded_cell_by_cell():
    whole = {"index": 1, "x": 1, "y": 2, "row_created": "t", "row_updated": "t"}
    partial = {"index": 2, "x": 5, "row_created": "t", "row_updated": "t"}  # y failed
    encoded = encode_rows([("(1,)", whole), ("(2,)", partial)], [True, True],
                          CellLayout(HEADER, {}))
    from enb.persistence.journal import decode_record
    record = decode_record(encoded.record)[0]
    assert record.tags["y"] == ["int", "absent"] and not record.append_only
    assert list(csv.reader(io.StringIO(record.body.decode())))[1][3] == ""


class Padded(ATable):
    def column_v(self, index, row):
        return f"{index:05d}"


def test_a_csv_edited_in_place_to_the_same_size_is_noticed(tmp_path, caplog):
    path = tmp_path / "p.csv"
    Padded(csv_support_path=path).get_df(target_indices=range(5))
    types = json.loads((tmp_path / "p.csv.types").read_text())["generations"][0]
    info = os.stat(path)
    assert (types["csv_inode"], types["csv_mtime_ns"]) == (info.st_ino, info.st_mtime_ns)
    text = path.read_text()
    with open(path, "r+") as handle:  # same size, same inode: only the content and mtime change
        handle.write(text.replace("00003", "00009"))
    with caplog.at_level("WARNING"):
        df = Padded(csv_support_path=path).get_df(target_indices=range(5))
    assert "changed outside enb" in caplog.text
    assert list(df["v"]) == ["00000", "00001", "00002", "00009", "00004"]  # still strings


def _cell_kinds():
    import datetime
    import pathlib
    return [
        lambda i: i, lambda i: -i * 10 ** 12, lambda i: 10 ** 30 + i, lambda i: i / 7,
        lambda i: math.nan, lambda i: -math.inf, lambda i: i % 2 == 0, lambda i: f"row-{i}",
        lambda i: f"{i:05d}", lambda i: "", lambda i: 'a,"b"\nc', lambda i: "é日本",
        lambda i: "cr\rlf", lambda i: "nul\x00", lambda i: "\udcff-lone", lambda i: [i, 0.5, "x"],
        lambda i: {"n": i, "none": None}, lambda i: np.int64(i), lambda i: np.float32(0.25),
        lambda i: np.bool_(True), lambda i: np.arange(3), lambda i: [np.float64(1.5), math.nan],
        lambda i: datetime.datetime(2026, 1, 2, 3, 4, 5, i), lambda i: datetime.date(2026, 1, 2),
        lambda i: pathlib.Path(f"/data/f{i}.png"), lambda i: (1, "t"), lambda i: None,
        lambda i: object(),  # refused: fails its row
    ]


@pytest.mark.parametrize("seed", range(40))
def test_the_rows_workers_decode_are_those_the_head_would_read_from_the_record(seed):
    """The head keeps each chunk's rows as its worker decoded them instead of parsing the text
    it journals: they must be what parsing that text gives, value for value, for every kind."""
    from enb.persistence.batch import MISSING
    from enb.persistence.combine import stack
    from enb.persistence.journal import decode_record
    from enb.persistence.stored import decode_text
    from enb.persistence.store import _bodies, _group_tags
    rng = random.Random(seed)
    kinds = _cell_kinds()
    header = ("__atable_index", "index", "a", "b", "c", "row_created", "row_updated")
    declared = {} if seed % 3 else {"c": "ast"}
    layout = CellLayout(header, declared)
    encoded = []
    for chunk in range(rng.randint(1, 5)):
        # a column of one kind (typed fast paths), or of many kinds, with cells left out
        picks = {c: [rng.choice(kinds)] if rng.random() < 0.5 else rng.sample(kinds, 3)
                 for c in ("a", "b", "c")}
        rows, new = [], []
        for n in range(rng.randint(1, 30)):
            i = chunk * 100 + n
            cells = {}
            for column, options in picks.items():
                value = rng.choice(options)(i)
                if value is not None:  # None: the cell is left out
                    cells[column] = value
            rows.append((str((i,)), cells))
            new.append(rng.random() < 0.8)
        stamps = [f"2026-12-02T10:00:{n % 60:02d}.{n:06d}" for n in range(len(rows))]
        written = {"row_updated": stamps,
                   "row_created": [t if fresh else MISSING for t, fresh in zip(stamps, new)],
                   "index": [int(k[1:-2]) if fresh else MISSING
                             for (k, _), fresh in zip(rows, new)]}
        encoded.append(encode_rows(rows, new, layout, written))
    records = [decode_record(e.record)[0] for e in encoded]
    # the record the head keeps from a batch is the one it would decode from the bytes
    assert [e.batch.record(e.record) for e in encoded] == records
    parsed = decode_text(_bodies(records), list(header), _group_tags(header, records), ["index"],
                         declared, frozenset(), "journal")
    assert_same_rows(stack([e.batch for e in encoded]), parsed)
    # a refused cell left its row's cell absent in both, and was reported
    refused = [r for e in encoded for r in e.refused]
    assert all("object" in message for _, _, message in refused)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_row_timestamps_read_as_datetime_now_isoformat_would(zone, monkeypatch):
    """Workers format the time each row ended once per second of them: the text must be what
    datetime.now().isoformat() gives at that instant, local time, a whole second included."""
    import datetime
    import time
    from enb.rows import timestamp_texts
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        now = time.time_ns()
        stamps = [now, now + 1, now + 999_999_999, (now // 10 ** 9 + 1) * 10 ** 9,
                  1_710_054_000 * 10 ** 9 + 123_456_789,  # 2024-03-10, around a DST change
                  1_710_050_400 * 10 ** 9, 0, 1_000]
        want = [datetime.datetime.fromtimestamp(ns // 1000 / 1e6).isoformat() for ns in stamps]
        assert timestamp_texts(stamps) == want
        assert "." not in want[3] and "." in want[0]
        rng = random.Random(zone)
        stamps = [rng.randrange(0, 4 * 10 ** 18) for _ in range(2000)]
        stamps += [ns - ns % 1000 for ns in stamps[:50]] + [ns - ns % 10 ** 9 for ns in stamps[:50]]
        want = [(datetime.datetime.fromtimestamp(ns // 10 ** 9) + datetime.timedelta(
            microseconds=ns // 1000 % 10 ** 6)).isoformat() for ns in stamps]
        assert timestamp_texts(stamps) == want
        before = datetime.datetime.now().isoformat()
        text, = timestamp_texts([time.time_ns()])
        assert before <= text <= datetime.datetime.now().isoformat()
    finally:
        monkeypatch.undo()  # TZ as it was
        time.tzset()


@pytest.mark.parametrize("targets", [
    [3, -7, 0, 10 ** 30], [1.5, 2.0, -0.25], ["a", "it's", 'say "x"', "é"], [True, False],
    [(1, "a"), (2.5, "b,c")], [("x", 1, 2.0)]])
def test_keys_workers_make_from_indices_are_the_keys_of_the_targets(targets):
    """Int targets travel to workers without keys, which make them from the index values:
    they must be the keys the head resolves for any index kind."""
    from enb.rows import derive_keys
    from enb.targets import resolve
    width = len(targets[0]) if isinstance(targets[0], tuple) else 1

    class Indexed(ATable):
        pass

    table = Indexed(index=[f"i{n}" for n in range(width)] if width > 1 else "i")
    table.indices_are_paths = False
    resolved = resolve(table, targets)
    assert derive_keys(list(resolved.indices), width) == resolved.keys


def test_a_chunk_is_a_sequence_of_its_tasks_and_its_slices_are_chunks():
    """Chunks are cut from the plan by slices and rows are sent again one task at a time:
    slices, items and iteration must be the tasks the chunk stands for."""
    from enb.rows import Chunk, pack
    tasks = [(f"({i},)", i, {"a": i} if i % 3 else {}, ("b", "c") if i % 2 else ("c",))
             for i in range(10)]
    packed = pack(tasks)
    without_keys = Chunk(None, list(range(10)), None, ("b",))
    for chunk, want in ((packed, tasks),
                        (without_keys, [(f"({i},)", i, {}, ("b",)) for i in range(10)])):
        assert list(chunk) == want and len(chunk) == 10
        assert [chunk[i] for i in range(10)] == want
        for part in (slice(0, 3), slice(4, 10), slice(9, 20), slice(5, 5)):
            assert isinstance(chunk[part], Chunk) and list(chunk[part]) == want[part]
        assert list(reversed(chunk)) == want[::-1]

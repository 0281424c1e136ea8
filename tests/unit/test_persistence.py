"""Persistence: enb's CSV format, types that come back as they were, and bad files."""
import os
import shutil
import subprocess
import sys

import pytest

import enb
from enb.atable import ATable, ColumnProperties, CorruptedTableError, column_function

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "enb-1.1.3")


class Values(ATable):
    @column_function("text", "empty", "number", "flag", "ratio", "nothing_float")
    def set_values(self, index, row):
        row["text"] = "007"
        row["empty"] = ""
        row["number"] = 7
        row["flag"] = False
        row["ratio"] = 0.1
        row["nothing_float"] = float("nan")


def test_values_come_back_with_their_type(tmp_path):
    path = tmp_path / "v.csv"
    Values(index="name", csv_support_path=path).get_df(target_indices=["007"])
    df = Values(index="name", csv_support_path=path).get_df(target_indices=["007"], fill=False)
    row = df.iloc[0]
    assert row["name"] == "007" and row["text"] == "007"
    assert row["empty"] == ""
    assert row["number"] == 7 and isinstance(row["number"], (int,)) or row["number"].item() == 7
    assert bool(row["flag"]) is False
    assert row["ratio"] == 0.1


def test_empty_string_is_not_recomputed(tmp_path):
    path = tmp_path / "v.csv"
    first = Values(index="name", csv_support_path=path).get_df(target_indices=["a"])
    again = Values(index="name", csv_support_path=path).get_df(target_indices=["a"])
    assert again.iloc[0]["row_updated"] == first.iloc[0]["row_updated"]


def test_csv_is_in_enb_format(tmp_path):
    path = tmp_path / "v.csv"
    Values(index="name", csv_support_path=path).get_df(target_indices=["x,y"])
    lines = path.read_text().splitlines()
    assert lines[0] == ("__atable_index,name,text,empty,number,flag,ratio,nothing_float,"
                        "row_created,row_updated")
    # A NaN is written "nan" (pandas and enb 1.x read it as NaN), so that an empty cell always
    # means a cell never computed, with or without the types file.
    assert lines[1].startswith('"(\'x,y\',)","x,y",007,,7,False,0.1,nan,')


@pytest.mark.parametrize("fixture,index,targets", [
    ("kinds.csv", "name", ["ab", "c,d", "007", "x y z"]),
    ("two_index.csv", ["a", "b"], [(a, b) for a in (1, 2) for b in (3, 4, 5)]),
])
def test_loads_csv_written_by_enb_1_1_3(tmp_path, fixture, index, targets):
    path = tmp_path / fixture
    shutil.copy(os.path.join(FIXTURES, fixture), path)

    class Kinds(ATable):
        @column_function("as_int", "as_float", "as_text", "as_bool",
                         ColumnProperties("as_dict", has_dict_values=True),
                         ColumnProperties("as_list", has_iterable_values=True))
        def set_all(self, index, row):
            raise AssertionError("nothing must be recomputed")

    class TwoIndex(ATable):
        def column_product(self, index, row):
            raise AssertionError("nothing must be recomputed")

    table = (Kinds if fixture == "kinds.csv" else TwoIndex)(index=index, csv_support_path=path)
    df = table.get_df(target_indices=targets)
    assert len(df) == len(targets)
    if fixture == "kinds.csv":
        row = df.set_index("name").loc["007"]
        assert row["as_text"] == "007"
        assert row["as_dict"] == {"first": "0", "n": 3}
        assert row["as_list"] == ["0", 3, 1.5]
        assert df.set_index("name").loc["c,d", "as_int"] == 3
    else:
        assert list(df["product"]) == [a * b for a, b in targets]


def test_enb_1_1_3_experiment_fixture_loads_without_recomputing(tmp_path):
    for name in ("persistence_Tiny.csv", "Tiny_dataset_persistence.csv", "make_fixtures.py"):
        shutil.copy(os.path.join(FIXTURES, name), tmp_path / name)
    enb.config.options.project_root = str(tmp_path)
    enb.config.options.persistence_dir = str(tmp_path)

    class Tiny(enb.experiment.Experiment):
        def column_doubled(self, index, row):
            raise AssertionError("nothing must be recomputed")

    tasks = [enb.experiment.ExperimentTask(dict(n=n)) for n in range(4)]
    df = Tiny(tasks=tasks, dataset_paths=[str(tmp_path / "make_fixtures.py")]).get_df()
    assert list(df["doubled"]) == [0, 2, 4, 6]
    assert list(df["param_dict"]) == [{"n": n} for n in range(4)]
    assert set(df["corpus"]) == {"fx"}


def test_rows_written_here_are_readable_by_the_enb_1_format_rules(tmp_path):
    """The CSV we write parses with enb 1.x's own reading rules (pandas + literal_eval)."""
    import ast

    import pandas as pd
    path = tmp_path / "v.csv"

    class D(ATable):
        @column_function(ColumnProperties("d", has_dict_values=True))
        def set_d(self, index, row):
            row["d"] = {"k": index}

    D(csv_support_path=path).get_df(target_indices=[1, 2])
    raw = pd.read_csv(path)
    assert list(raw["d"].apply(ast.literal_eval)) == [{"k": 1}, {"k": 2}]
    assert list(raw["__atable_index"]) == ["(1,)", "(2,)"]


def test_empty_file_is_an_empty_table(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"")
    from tests.helpers import Trivial
    df = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1])
    assert list(df["double"]) == [2]


@pytest.mark.parametrize("content,where", [
    (b"name,value\nx,1\n", ":1:"),
    (b"__atable_index,i,double\n\"(1,)\",1,2\n\"(2,)\",2\n", ":3:"),
    (b"__atable_index,i,double\n\"(1,)\",1,2\n\"(2,)\",2,4", ":3:"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", ":1:"),
])
def test_corrupt_truncated_or_foreign_file_is_an_error_and_never_overwritten(tmp_path, content,
                                                                                 where):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    from tests.helpers import Trivial
    with pytest.raises(CorruptedTableError) as caught:
        Trivial(index="i", csv_support_path=path).get_df(target_indices=[1])
    assert str(path) + where in str(caught.value)
    assert path.read_bytes() == content


def test_objects_from_foreign_csv_cannot_run_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    payload = repr(pickle.dumps(Evil()))
    path = tmp_path / "o.csv"
    path.write_text('__atable_index,index,o,row_created,row_updated\n'
                    f'"(1,)",1,"{payload}",x,y\n')

    class Objects(ATable):
        @column_function(ColumnProperties("o", has_object_values=True))
        def set_o(self, index, row):
            row["o"] = 1

    with pytest.raises(CorruptedTableError, match="refusing"):
        Objects(csv_support_path=path).get_df(target_indices=[1])
    assert not (tmp_path / "pwned").exists()


def test_two_processes_on_one_table_do_not_corrupt_it(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))!r})
import enb
enb.config.options.cpu_limit = 1
class Shared(enb.atable.ATable):
    def column_v(self, index, row):
        return index * 3
start = int(sys.argv[1])
for block in range(20):
    lo = start + block * 10
    Shared(csv_support_path={str(tmp_path / "shared.csv")!r}).get_df(
        target_indices=list(range(lo, lo + 10)))
""")
    env = dict(os.environ, ENB_IGNORE_ARGV="1")
    procs = [subprocess.Popen([sys.executable, str(script), str(start)], env=env)
             for start in (0, 1000)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]

    class Shared(ATable):
        def column_v(self, index, row):
            raise AssertionError("all rows must be stored")

    targets = list(range(0, 200)) + list(range(1000, 1200))
    df = Shared(csv_support_path=tmp_path / "shared.csv").get_df(target_indices=targets)
    assert list(df["v"]) == [t * 3 for t in targets]

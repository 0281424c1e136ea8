"""ATable declaration and get_df semantics (enb 1.x compatible)."""
import os
from pathlib import Path

import pandas as pd
import pytest

import enb
from enb.atable import ATable, ColumnFailedError, ColumnProperties, column_function
from tests.helpers import FailsOnMultiplesOfSeven, Trivial


def test_column_methods_return_cells_in_declaration_order(tmp_path):
    df = Trivial(index="i", csv_support_path=tmp_path / "t.csv").get_df(target_indices=[3, 1, 2])
    assert list(df["i"]) == [3, 1, 2]
    assert list(df["double"]) == [6, 2, 4]
    assert list(df["plus_one"]) == [7, 3, 5]
    assert list(df.columns) == ["i", "double", "plus_one", "text", "row_created", "row_updated"]
    assert df.index.name == "__atable_index"
    assert list(df.index) == ["(3,)", "(1,)", "(2,)"]


class Decorated(ATable):
    @column_function("a", ColumnProperties("b", label="B!"),
                     [ColumnProperties("c", has_dict_values=True), "d"])
    def set_many(self, index, row):
        row["a"] = index
        row["b"] = index + 1
        row["c"] = {"i": index}
        row["d"] = [index]

    @enb.atable.column_function("named")
    def uses_column_name(self, index, row):
        row[_column_name] = f"I am {_column_name}"  # noqa: F821 -- injected by enb


def test_column_function_accepts_names_properties_lists_and_mixes(tmp_path):
    df = Decorated(csv_support_path=tmp_path / "d.csv").get_df(target_indices=[5])
    row = df.iloc[0]
    assert (row["a"], row["b"], row["c"], row["d"]) == (5, 6, {"i": 5}, [5])
    assert row["named"] == "I am named"
    assert Decorated.column_to_properties["b"].label == "B!"
    assert Decorated.column_to_properties["c"].has_dict_values


def test_multi_column_function_runs_once_per_row(tmp_path):
    calls = tmp_path / "calls"

    class Counting(ATable):
        @column_function("x", "y")
        def set_both(self, index, row):
            with open(calls, "a") as handle:
                handle.write(".")
            row["x"], row["y"] = index, -index

    enb.config.options.cpu_limit = 1
    Counting(csv_support_path=tmp_path / "c.csv").get_df(target_indices=[1, 2, 3])
    assert calls.read_text() == "..."


class Base(ATable):
    def column_kind(self, index, row):
        return "base"

    def column_after(self, index, row):
        return row["kind"] + "!"


class Child(Base):
    def column_kind(self, index, row):
        return "child"

    def column_extra(self, index, row):
        return 1


def test_subclasses_inherit_and_override_columns_keeping_order(tmp_path):
    df = Child(csv_support_path=tmp_path / "c.csv").get_df(target_indices=[0])
    assert list(df.columns)[:4] == ["index", "kind", "after", "extra"]
    assert df.iloc[0]["kind"] == "child"
    assert df.iloc[0]["after"] == "child!"
    base_df = Base(csv_support_path=tmp_path / "b.csv").get_df(target_indices=[0])
    assert base_df.iloc[0]["kind"] == "base"


def test_add_column_function_after_get_df_computes_only_the_new_column(tmp_path):
    class Growing(ATable):
        def column_first(self, index, row):
            return index

    path = tmp_path / "g.csv"
    first = Growing(csv_support_path=path).get_df(target_indices=[1, 2])
    created = list(first["row_created"])

    def second(self, index, row):
        row["second"] = index * 10

    ATable.add_column_function(Growing, second, ColumnProperties("second"))
    df = Growing(csv_support_path=path).get_df(target_indices=[1, 2])
    assert list(df["second"]) == [10, 20]
    assert list(df["row_created"]) == created  # old rows were completed, not recomputed


def test_several_index_columns(tmp_path):
    class Product(ATable):
        def column_product(self, index, row):
            a, b = index
            return a * b

    df = Product(index=["a", "b"], csv_support_path=tmp_path / "p.csv").get_df(
        target_indices=[(2, 3), (4, 5)])
    assert list(df["a"]) == [2, 4] and list(df["b"]) == [3, 5]
    assert list(df["product"]) == [6, 20]
    assert list(df.index) == ["(2, 3)", "(4, 5)"]


def test_only_missing_cells_are_computed(tmp_path):
    path = tmp_path / "t.csv"
    first = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1, 2])
    df = Trivial(index="i", csv_support_path=path).get_df(target_indices=[2, 3, 1])
    assert list(df["i"]) == [2, 3, 1]
    by_index = df.set_index("i")
    assert by_index.loc[1, "row_created"] == first.set_index("i").loc[1, "row_created"]
    assert by_index.loc[2, "row_updated"] == first.set_index("i").loc[2, "row_updated"]


def test_overwrite_recomputes_but_keeps_row_created(tmp_path):
    path = tmp_path / "t.csv"
    first = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1])
    again = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1], overwrite=True)
    assert again.iloc[0]["row_created"] == first.iloc[0]["row_created"]
    assert again.iloc[0]["row_updated"] > first.iloc[0]["row_updated"]


def test_force_option_recomputes_everything_requested(tmp_path):
    path = tmp_path / "t.csv"
    first = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1, 2])
    enb.config.options.force = 1
    again = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1, 2])
    assert all(a > b for a, b in zip(again["row_updated"], first["row_updated"]))


def test_fill_false_only_loads_and_leaves_out_rows_never_computed(tmp_path):
    path = tmp_path / "t.csv"
    Trivial(index="i", csv_support_path=path).get_df(target_indices=[1, 2])
    df = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1, 2, 3], fill=False)
    assert list(df["i"]) == [1, 2]


@pytest.mark.parametrize("targets", [[1, 1], [], [(1,), 1]])
def test_duplicate_or_empty_targets_raise_value_error(tmp_path, targets):
    with pytest.raises(ValueError):
        Trivial(index="i", csv_support_path=tmp_path / "t.csv").get_df(target_indices=targets)


def test_unknown_target_column_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        Trivial(index="i", csv_support_path=tmp_path / "t.csv").get_df(
            target_indices=[1], target_columns=["nope"])


def test_target_columns_compute_only_those(tmp_path):
    path = tmp_path / "t.csv"
    df = Trivial(index="i", csv_support_path=path).get_df(target_indices=[1],
                                                          target_columns=["double"])
    assert df.iloc[0]["double"] == 2
    assert pd.isna(df.iloc[0]["text"])


def test_failures_keep_every_other_row_and_report_each_failing_row(tmp_path):
    path = tmp_path / "f.csv"
    table = FailsOnMultiplesOfSeven(csv_support_path=path)
    with pytest.raises(ColumnFailedError) as caught:
        table.get_df(target_indices=list(range(1, 30)))
    failed = sorted(e.index for e in caught.value.exception_list)
    assert failed == [7, 14, 21, 28]
    for error in caught.value.exception_list:
        assert error.column == "value"
        assert "seven divides" in error.msg and "Traceback" in error.msg
    df = FailsOnMultiplesOfSeven(csv_support_path=path).get_df(
        target_indices=[i for i in range(1, 30) if i % 7], fill=False)
    assert len(df) == 25


def test_dict_list_tuple_and_object_values_round_trip(tmp_path):
    class Kinds(ATable):
        @column_function(ColumnProperties("d", has_dict_values=True),
                         ColumnProperties("l", has_iterable_values=True),
                         ColumnProperties("o", has_object_values=True))
        def set_all(self, index, row):
            row["d"] = {"a": index, "b": [1, 2]}
            row["l"] = (index, "x")
            row["o"] = {1, 2, index}

    path = tmp_path / "k.csv"
    Kinds(csv_support_path=path).get_df(target_indices=[3])
    df = Kinds(csv_support_path=path).get_df(target_indices=[3], fill=False)
    assert df.iloc[0]["d"] == {"a": 3, "b": [1, 2]}
    assert df.iloc[0]["l"] == (3, "x")
    assert df.iloc[0]["o"] == {1, 2, 3}


def test_in_memory_table_without_csv(tmp_path):
    table = Trivial(index="i")
    assert list(table.get_df(target_indices=[1, 2])["double"]) == [2, 4]
    assert not any(tmp_path.iterdir())


def test_column_that_sets_nothing_is_a_failure(tmp_path):
    class Lazy(ATable):
        @column_function("never")
        def forget(self, index, row):
            pass

    with pytest.raises(ColumnFailedError, match="did not fill column 'never'"):
        Lazy(csv_support_path=tmp_path / "l.csv").get_df(target_indices=[1])


def test_workers_run_in_the_project_root(tmp_path):
    from tests.helpers import WhereAmI
    enb.config.options.project_root = str(tmp_path)
    df = WhereAmI(csv_support_path=tmp_path / "w.csv").get_df(target_indices=[1, 2])
    assert set(df["cwd"]) == {str(tmp_path)}
    assert os.getcwd() != str(tmp_path) or True  # the head's own cwd is not changed


def test_a_shipped_experiment_imports_pandas_only_when_its_dataset_table_is_read(tmp_path):
    # ray workers unpickle the experiment before every row: the dataset table's DataFrame
    # travels with it, but importing pandas for it costs each fresh worker ~0.1 CPU-s (and
    # ~40 MB) that rows which never read it do not need.
    import pickle
    import subprocess
    import sys

    from tests.helpers import DatasetAware
    (tmp_path / "a.bin").write_bytes(b"abc")
    experiment = DatasetAware(tasks=[enb.experiment.ExperimentTask({"k": 1})],
                              dataset_paths=[str(tmp_path / "a.bin")],
                              csv_experiment_path=tmp_path / "e.csv",
                              csv_dataset_path=tmp_path / "d.csv")
    (tmp_path / "experiment.pickle").write_bytes(pickle.dumps(experiment))
    code = (
        "import pickle, sys\n"
        "experiment = pickle.load(open(sys.argv[1], 'rb'))\n"
        "import enb\n"
        "enb.config.options.project_root = sys.argv[2]  # as the executors set it in workers\n"
        "before = 'pandas' in sys.modules\n"
        "size = experiment.get_dataset_info_row(experiment.target_file_paths[0])['size_bytes']\n"
        "print(before, int(size), type(experiment.dataset_table_df).__name__)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "experiment.pickle"),
                           enb.config.options.resolved_project_root()],
                          capture_output=True, text=True, env=env, check=False,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "3", "DataFrame"]
    # in this process, the experiment and its copies keep working as before
    assert experiment.dataset_table_df is pickle.loads(pickle.dumps(experiment)).dataset_table_df \
        or pickle.loads(pickle.dumps(experiment)).dataset_table_df.equals(experiment.dataset_table_df)


class Pickled(enb.atable.ATable):
    def column_a(self, index, row):
        return index + 1

    @enb.atable.column_function("b", "c")
    def set_b_and_c(self, index, row):
        row["b"], row["c"] = row["a"] * 2, 0


def test_column_properties_pickle_with_their_functions_and_methods_still_return():
    import pickle
    # enb 1.x scripts give analyzers the columns' properties; they travel pickled.
    back = pickle.loads(pickle.dumps(dict(Pickled.column_to_properties)))
    assert back["a"].fun is Pickled.column_to_properties["a"].fun
    assert back["b"].fun is back["c"].fun is Pickled.column_to_properties["b"].fun
    row = {}
    assert Pickled().column_a(1, row) == 2 and row == {"a": 2}
    assert list(Pickled().get_df(target_indices=[1])["b"]) == [4]

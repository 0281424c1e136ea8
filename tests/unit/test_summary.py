"""SummaryTable: rows are the groups of another table's DataFrame (enb 1.x's semantics)."""
import functools
import os
import pickle

import pandas as pd
import pytest

import enb
from enb.atable import ColumnProperties, SummaryTable


def frame():
    return pd.DataFrame({"corpus": ["b", "a", "b", "a", "c", None],
                         "codec": ["zip", "zip", "xz", "xz", "zip", "zip"],
                         "ratio": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})


class RatioSummary(SummaryTable):
    def column_mean_ratio(self, index, row):
        return float(self.label_to_df[index]["ratio"].mean())

    def column_labels_seen(self, index, row):
        return ",".join(sorted(self.label_to_df))


def test_no_group_by_is_one_group_called_all():
    df = RatioSummary(full_df=frame()).get_df()
    assert list(df["group_label"]) == ["All"]
    assert df.iloc[0]["group_size"] == 6 and df.iloc[0]["mean_ratio"] == 4.5


def test_a_column_groups_as_pandas_sorted_and_all_goes_last():
    df = RatioSummary(reference_df=frame(), group_by="corpus", include_all_group=True).get_df()
    assert list(df["group_label"]) == ["a", "b", "c", "All"]  # the row with no corpus: no group
    assert list(df["group_size"]) == [2, 2, 1, 6]
    assert list(df["mean_ratio"]) == [4.0, 3.0, 6.0, 4.5]
    assert df.iloc[0]["labels_seen"] == "All,a,b,c"


def test_lists_of_columns_label_groups_as_tuples_as_enb_1x():
    one = RatioSummary(full_df=frame(), group_by=["codec"]).get_df()
    assert list(one["group_label"]) == ["('xz',)", "('zip',)"]
    two = RatioSummary(full_df=frame(), group_by=["corpus", "codec"]).get_df()
    assert list(two["group_label"]) == ["('a', 'xz')", "('a', 'zip')", "('b', 'xz')",
                                        "('b', 'zip')", "('c', 'zip')"]


def test_a_function_groups_and_labels_become_strings():
    def by_ratio(df):
        return [(3, df[df["ratio"] > 3]), (1, df[df["ratio"] <= 3])]
    df = RatioSummary(full_df=frame(), group_by=by_ratio, include_all_group=True).get_df()
    assert list(df["group_label"]) == ["1", "3", "All"]
    assert list(df["group_size"]) == [2, 4, 6]


def test_split_groups_items_unpack_and_subclasses_may_return_pairs():
    table = RatioSummary(full_df=frame(), group_by="corpus")
    assert [(label, len(df)) for label, df in table.split_groups()] == [("a", 2), ("b", 2),
                                                                         ("c", 1)]

    class Custom(RatioSummary):
        def split_groups(self, reference_df=None, include_all_group=None):
            df = self.reference_df if reference_df is None else reference_df
            return [("high", df[df["ratio"] >= 5]), ("low", df[df["ratio"] < 5])]
    assert list(Custom(full_df=frame()).get_df()["group_size"]) == [3, 3]

    class Twice(RatioSummary):
        def split_groups(self, reference_df=None, include_all_group=None):
            return [("same", self.reference_df), ("same", self.reference_df)]
    with pytest.raises(ValueError, match="'same' more than once"):
        Twice(full_df=frame()).get_df()


def test_label_to_df_lives_during_get_df_only():
    table = RatioSummary(full_df=frame())
    table.get_df()
    assert not hasattr(table, "label_to_df")
    table.label_to_df = {}
    with pytest.raises(RuntimeError, match="label_to_df"):
        table.get_df()


def test_in_memory_a_summary_is_of_the_dataframe_of_each_call():
    table = RatioSummary(full_df=frame(), group_by="corpus")
    assert list(table.get_df()["mean_ratio"]) == [4.0, 3.0, 6.0]
    other = frame().assign(ratio=lambda d: d["ratio"] * 10)
    assert list(table.get_df(reference_df=other)["mean_ratio"]) == [40.0, 30.0, 60.0]


def test_a_persisted_summary_is_loaded_not_computed(tmp_path):
    path = tmp_path / "summary.csv"
    RatioSummary(full_df=frame(), group_by="corpus", csv_support_path=str(path)).get_df()
    table = RatioSummary(full_df=frame(), group_by="corpus", csv_support_path=str(path))
    df = table.get_df()
    assert table.last_report.computed == 0 and table.last_report.loaded == 3
    assert list(df["mean_ratio"]) == [4.0, 3.0, 6.0]


def test_columns_added_to_an_instance_with_partials_as_enb_1x_analyzers_do():
    class Dynamic(SummaryTable):
        def __init__(self, full_df, columns):
            super().__init__(full_df=full_df, group_by="codec")
            self.column_to_properties = dict(self.column_to_properties)
            for column in columns:
                for stat in ("min", "max"):
                    self.add_column_function(
                        self, fun=functools.partial(self.describe, column=column),
                        column_properties=ColumnProperties(f"{column}_{stat}"))

        def describe(self, *args, **kwargs):
            _self, label, row = args
            series = _self.label_to_df[label][kwargs["column"]]
            row[f"{kwargs['column']}_min"] = float(series.min())
            row[f"{kwargs['column']}_max"] = float(series.max())
    df = Dynamic(frame(), ["ratio"]).get_df()
    assert list(df["ratio_min"]) == [4.0, 2.0] and list(df["ratio_max"]) == [5.0, 7.0]


def test_labels_are_never_read_as_file_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()  # a folder named like a group, in the current folder
    df = RatioSummary(full_df=frame(), group_by="corpus").get_df()
    assert list(df["group_label"]) == ["a", "b", "c"]
    assert list(df.index) == ["('a',)", "('b',)", "('c',)"]


def test_the_table_ships_the_reference_dataframe_once_not_its_groups():
    big = pd.DataFrame({"g": [i % 50 for i in range(20000)], **{
        f"v{i}": [float(j) for j in range(20000)] for i in range(4)}})
    table = RatioSummary(full_df=big, group_by="g")
    alone = len(pickle.dumps(big))
    groups = table.split_groups()
    for group in groups:
        len(group.frame)  # taken once on the head
    table.label_to_df = enb.summary.GroupFrames({str(g.label): g for g in groups})
    shipped = len(pickle.dumps(table))
    assert shipped < 1.2 * alone, (shipped, alone)  # the groups are positions, not copies
    copy = pickle.loads(pickle.dumps(table))
    assert len(copy.label_to_df["7"]) == 400 and copy.label_to_df.group_size("7") == 400
    del table.label_to_df


def test_one_summary_per_group_and_1x_names():
    assert enb.atable.SummaryTable is SummaryTable
    table = SummaryTable(full_df=frame())
    assert table.full_df is table.reference_df and table.indices == ["group_label"]
    with pytest.raises(TypeError, match="target_indices"):
        table.get_df(target_indices=["All"])
    with pytest.raises(TypeError, match="DataFrame"):
        SummaryTable()
    assert os.environ.get("ENB_IGNORE_ARGV")  # the suite's own flags are not enb's

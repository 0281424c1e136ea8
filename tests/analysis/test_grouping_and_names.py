"""group_by (a column, a list, task families, a HistogramKeyBinner, a callable) and the
names of the files, as enb 1.x writes them."""
import collections

import pandas as pd
import pytest

import enb
from enb.aanalysis import HistogramKeyBinner, naming
from enb.aanalysis.grouping import GroupingError, split


FRAME = pd.DataFrame({"k": ["b", "a", "b", None, "c"], "n": [1, 2, 1, 2, 1],
                      "v": [0.5, 2.5, 4.9, 5.0, 9.9], "family_label": list("xxyyx")})


def test_groups_by_a_column_are_sorted_and_rows_without_a_key_left_out():
    groups = split(FRAME, "k", include_all_group=True)
    assert groups.labels == ["a", "b", "c", "All"]
    assert [len(groups.frame_of(label)) for label in groups.labels] == [1, 2, 1, 5]


def test_groups_by_a_list_are_labelled_by_their_tuples():
    assert split(FRAME, ["k", "n"], False).labels == ["('a', 2)", "('b', 1)", "('c', 1)"]
    assert split(FRAME, ["n"], False).labels == ["(1,)", "(2,)"]


def test_groups_by_task_families_use_the_family_label_column():
    families = [enb.experiment.TaskFamily("y"), enb.experiment.TaskFamily("x")]
    assert split(FRAME, families, False).labels == ["x", "y"]
    assert enb.aanalysis.get_groupby_str(families) == "family_label"


def test_groups_by_a_histogram_key_binner_are_its_intervals_in_order():
    binner = HistogramKeyBinner(0, 10, 4, column="v")
    groups = split(FRAME, binner, False)
    assert groups.labels == ["[0.0,2.50)", "[2.50,5.0)", "[5.0,7.50)", "[7.50,10.0]"]
    assert [len(groups.frame_of(label)) for label in groups.labels] == [1, 2, 1, 1]
    with pytest.raises(GroupingError, match="needs the column"):
        split(FRAME, HistogramKeyBinner(0, 10, 4), False)


def test_groups_by_a_callable_are_its_pairs_sorted():
    groups = split(FRAME, lambda df: [("high", df[df.v > 3]), ("low", df[df.v <= 3])], False)
    assert groups.labels == ["high", "low"]
    assert list(groups.frame_of("high")["v"]) == [4.9, 5.0, 9.9]


def test_a_missing_group_column_is_named():
    with pytest.raises(GroupingError, match="no column 'nope'"):
        split(FRAME, "nope", False)


def test_histogram_key_binner_sums_dict_values_per_interval():
    binner = HistogramKeyBinner(0, 4, 2)
    assert binner({0: 1, 1.5: 2, 2: 3, 4: 4, 7: 100, -1: 1000}) == collections.OrderedDict(
        [("[0.0,2.0)", 3), ("[2.0,4.0]", 7)])
    assert list(HistogramKeyBinner(0, 4, 2, normalize=True)({0: 1, 3: 3}).values()) == \
        [0.25, 0.75]


@pytest.mark.parametrize("selection, text", [
    ("a", "a"), (["a", "b"], "columns_a__b"), (("a", "b"), "columns_a__b"),
    ([("a", "b"), ("c", "d")], "columns_a__vs__b__c__vs__d"),
    (["x" * 80, "y" * 80], "2columns"), ([("x" * 80, "y" * 80)], "1columns")])
def test_column_selections_in_file_names(selection, text):
    assert naming.selection_text(selection) == text


def test_file_names_with_group_and_reference():
    assert naming.output_stem("ScalarNumericAnalyzer", "a", "histogram", "task_label", None) == \
        "ScalarNumericAnalyzer-a-histogram-groupby__task_label"
    assert naming.output_stem("TwoNumericAnalyzer", ("a", "b"), "scatter", ["k", "n"], "g1") == \
        "TwoNumericAnalyzer-columns_a__b-scatter-groupby__k__n-referencegroup__g1"
    # Several modes in the analyzer's declared order, whatever order they are given in.
    assert naming.modes_text({"boxplot", "histogram", "hbar"},
                             ("histogram", "hbar", "boxplot")) == "histogram__hbar__boxplot"


def test_ini_sections_set_analyzer_attributes_unless_the_script_set_them(tmp_path, monkeypatch):
    from enb.config.aini import ini

    class IniAnalyzer(enb.aanalysis.ScalarNumericAnalyzer):
        pass

    class CodeAnalyzer(enb.aanalysis.ScalarNumericAnalyzer):
        pass

    CodeAnalyzer.show_grid = "set in code"
    for name in ("IniAnalyzer", "CodeAnalyzer"):
        ini.set_key(f"{__name__}.{name}", "show_grid", "True")
        ini.set_key(f"{__name__}.{name}", "histogram_bin_count", "7")
    try:
        assert IniAnalyzer().show_grid is True and IniAnalyzer.histogram_bin_count == 7
        assert CodeAnalyzer().show_grid == "set in code"
        assert CodeAnalyzer.histogram_bin_count == 7
        # The library's own classes keep their defaults.
        assert enb.aanalysis.ScalarNumericAnalyzer.histogram_bin_count == 50
    finally:
        ini.reload()
    assert repr(enb.aanalysis.ScalarNumericAnalyzer).endswith("enb.aanalysis.ScalarNumericAnalyzer'>")

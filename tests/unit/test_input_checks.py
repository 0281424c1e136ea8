"""Mistyped input is an error before anything runs: target_indices, selected_columns, columns."""
import os
import subprocess
import sys
import textwrap

import pytest

import enb
from enb.atable import ATable, ColumnDefinitionError, column_function
from enb.config.options import OptionError
from tests.helpers import Trivial

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Counts(ATable):
    """Counts the rows it computes, so a test can assert that none ran."""
    calls = 0

    def column_value(self, index, row):
        type(self).calls += 1
        return index


def test_a_string_as_target_indices_is_one_row_per_character_as_in_1x_and_says_so(caplog):
    # enb 1.1.3's own test_atable.py passes string.ascii_letters and expects 52 rows.
    df = Counts().get_df(target_indices="abc")
    assert list(df["value"]) == ["a", "b", "c"]
    assert "target_indices is the str 'abc': each of its 3 characters is a row" in caplog.text
    assert "pass ['abc'] for a single row" in caplog.text


def test_bytes_as_target_indices_is_an_error():
    with pytest.raises(TypeError, match=r"not the bytes b'abc'.*pass \[") as caught:
        Counts().get_df(target_indices=b"abc")
    assert "Counts.get_df: target_indices must be a list" in str(caught.value)
    assert Counts.calls == 0


def test_a_number_as_target_indices_says_to_pass_a_list():
    with pytest.raises(TypeError, match=r"target_indices must be a list of indices, not the int "
                                        r"5; pass \[5\] for a single row"):
        Counts().get_df(target_indices=5)


def test_an_experiment_checks_target_indices_too(tmp_path):
    data = tmp_path / "f.txt"
    data.write_text("x")
    experiment = enb.experiment.Experiment(
        tasks=[enb.experiment.ExperimentTask({"k": 1})], dataset_paths=[str(data)],
        csv_experiment_path=tmp_path / "e.csv", csv_dataset_path=tmp_path / "d.csv")
    with pytest.raises(TypeError, match="Experiment.get_df: target_indices must be a list"):
        experiment.get_df(target_indices=5)


def test_an_unknown_selected_column_is_an_error_before_anything_runs(fresh_options):
    fresh_options.selected_columns = ["vlaue"]
    with pytest.raises(OptionError, match=r"--selected_columns: 'vlaue' \(did you mean "
                                          r"'value'\?\) is not a column of any table; "
                                          r"Counts's columns are value"):
        Counts().get_df(target_indices=[1, 2])
    assert Counts.calls == 0


def test_a_selected_column_of_another_table_is_no_error(fresh_options, tmp_path):
    # An experiment's dataset table has none of the experiment's columns; it computes none.
    fresh_options.selected_columns = ["double"]
    df = Counts().get_df(target_indices=[1, 2])
    assert Counts.calls == 0 and list(df.index) == ["(1,)", "(2,)"]
    df = Trivial(index="i").get_df(target_indices=[1, 2])
    assert list(df["double"]) == [2, 4]


def test_selected_columns_typo_on_the_command_line_fails_with_one_line(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        import enb
        from tests.helpers import Trivial
        Trivial(index="i").get_df(target_indices=[1, 2, 3, 4])
        print("computed")
    """))
    env = {k: v for k, v in os.environ.items() if k != "ENB_IGNORE_ARGV"}
    result = subprocess.run([sys.executable, str(script), "--selected_columns", "typo"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "computed" not in result.stdout
    assert "'typo' is not a column of any table" in result.stderr
    assert "rows computed" not in result.stderr


def test_a_static_method_column_is_an_error():
    with pytest.raises(ColumnDefinitionError, match=r"Static\.column_x is a staticmethod: a "
                                                    r"column function is a plain method"):
        class Static(ATable):
            @staticmethod
            def column_x(index, row):
                return 1


def test_a_class_method_decorated_as_column_is_an_error():
    with pytest.raises(ColumnDefinitionError, match=r"Klass\.fill is a classmethod"):
        class Klass(ATable):
            @classmethod
            @column_function("x")
            def fill(cls, index, row):
                row["x"] = 1


@pytest.mark.parametrize("name", ["__atable_index", "row_created", "row_updated"])
def test_a_column_named_as_enb_s_own_columns_is_an_error(name):
    with pytest.raises(ColumnDefinitionError, match=f"a column cannot be named '{name}'"):
        class Clash(ATable):
            @column_function(name)
            def fill(self, index, row):
                row[name] = 1
    with pytest.raises(ColumnDefinitionError, match=f"a column cannot be named '{name}'"):
        type("ClashToo", (ATable,), {f"column_{name}": lambda self, index, row: 1})


@pytest.mark.parametrize("name", ["__atable_index", "row_updated"])
def test_an_index_named_as_enb_s_own_columns_is_an_error(name, tmp_path):
    with pytest.raises(ColumnDefinitionError, match=f"the index cannot be named '{name}'"):
        Counts(index=name, csv_support_path=tmp_path / "c.csv").get_df(target_indices=[1])
    assert Counts.calls == 0 and not (tmp_path / "c.csv").exists()


def test_a_column_named_as_the_index_is_an_error(tmp_path):
    class Both(ATable):
        def column_i(self, index, row):
            return 1

        def column_other(self, index, row):
            return 2
    with pytest.raises(ColumnDefinitionError, match=r"'i' is both an index and a column"):
        Both(index="i", csv_support_path=tmp_path / "b.csv").get_df(target_indices=[1])
    assert not (tmp_path / "b.csv").exists()

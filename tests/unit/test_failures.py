"""Failed rows are recorded (traceback, node, attempt) and --retry_failed reruns only them."""
import json

import pytest

import enb
from enb.atable import ATable, ColumnFailedError


def _table(tmp_path):
    flaky = tmp_path / "broken"
    log = tmp_path / "computed"

    class Flaky(ATable):
        def column_value(self, index, row):
            with open(log, "a") as handle:
                handle.write(f"{index}\n")
            if index % 5 == 0 and flaky.exists():
                raise RuntimeError(f"row {index} is broken")
            return index

    return Flaky(csv_support_path=tmp_path / "f.csv"), flaky, log


def test_failures_are_recorded_with_traceback_node_and_attempt(tmp_path):
    table, flaky, log = _table(tmp_path)
    flaky.touch()
    for attempt in (1, 2):
        with pytest.raises(ColumnFailedError):
            table.get_df(target_indices=list(range(1, 21)))
        record = json.loads((tmp_path / "f.csv.failures").read_text())
        assert sorted(record) == ["(10,)", "(15,)", "(20,)", "(5,)"]
        assert record["(5,)"]["attempt"] == attempt
        assert "row 5 is broken" in record["(5,)"]["traceback"]
        assert record["(5,)"]["node"] == enb.misc.get_node_ip()
        assert record["(5,)"]["column"] == "value"


def test_retry_failed_recomputes_exactly_the_failed_rows(tmp_path):
    table, flaky, log = _table(tmp_path)
    flaky.touch()
    with pytest.raises(ColumnFailedError):
        table.get_df(target_indices=list(range(1, 21)))
    flaky.unlink()
    log.unlink()
    enb.config.options.retry_failed = True
    # Rows 21-25 were never asked for before: --retry_failed leaves them alone.
    df = table.get_df(target_indices=list(range(1, 26)))
    assert sorted(int(i) for i in log.read_text().split()) == [5, 10, 15, 20]
    assert list(df["value"]) == list(range(1, 21))
    assert not (tmp_path / "f.csv.failures").exists()


def test_retry_failed_is_a_flag(tmp_path):
    from enb.config import Options
    assert Options(["--retry_failed"]).retry_failed is True
    assert Options([]).retry_failed is False

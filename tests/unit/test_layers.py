"""The table half's layers: the engine and the storage below it never import the table module."""
import subprocess
import sys

import enb.atable
import enb.persistence


def test_engine_and_persistence_load_without_the_table_module():
    code = ("import sys, enb.engine, enb.persistence, enb.indices; "
            "print('enb.atable' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_enb_1_names_stay_in_the_table_module():
    for name in ("ColumnFailedError", "CorruptedTableError", "TIMESTAMP_COLUMNS",
                 "get_canonical_path", "unpack_index_value", "indices_to_internal_loc",
                 "internal_loc_to_index"):
        assert hasattr(enb.atable, name), name
    assert enb.atable.TIMESTAMP_COLUMNS is enb.persistence.TIMESTAMP_COLUMNS
    assert issubclass(enb.atable.ColumnFailedError, enb.atable.CorruptedTableError)

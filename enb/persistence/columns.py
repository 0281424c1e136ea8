"""The columns enb itself writes in every persistence CSV (enb 1.x's names)."""

#: The key column of a persistence CSV: ``str(tuple(index values))``, first in every row.
KEY_COLUMN = "__atable_index"
#: Columns enb fills itself, last in every row.
TIMESTAMP_COLUMNS = ("row_created", "row_updated")

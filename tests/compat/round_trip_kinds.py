"""Imported by both enbs (ours and 1.1.3) in test_enb113_round_trip.py: tables of every value
kind enb 1.x writes and reads, and the values they must hold."""
import math


class Point:
    """An object cell of a class of the experiment's own."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    def __repr__(self):
        return f"Point({self.x}, {self.y})"


#: enb 1.1.3 refuses a NaN a column function returns ("failed to fill column"): the tables it
#: writes have none; those written by ours have one row in ten.
WITH_NAN = True

WORDS = ["alpha", "007", 'quote"d', "comma, inside", "line\nbreak", "ünïcode", "", "True"]


def expected(i):
    return {
        "as_int": 3 * i - 5000,
        "as_float": math.nan if WITH_NAN and i % 10 == 0 else i / 7,
        "code": f"{i % 1000:03d}",                # digits only: "007"
        "name": WORDS[i % len(WORDS)] + str(i % 3),
        "flag": i % 3 == 0,
        "as_list": [i, i / 2, "x", None],
        "as_dict": {"i": i, "even": i % 2 == 0, "none": None, "s": "a'b"},
        "as_tuple": (i, "t"),
        "as_object": Point(i, -i) if i % 2 else {"nested": [i, (1, 2)]},
    }


COLUMNS = list(expected(0))


def make_table(enb, on_compute=None):
    """Return the table class, each of its columns declared as enb 1.x declares them."""
    ColumnProperties = enb.atable.ColumnProperties
    declared = [ColumnProperties("as_int"), ColumnProperties("as_float"),
                ColumnProperties("code"), ColumnProperties("name"), ColumnProperties("flag"),
                ColumnProperties("as_list", has_iterable_values=True),
                ColumnProperties("as_dict", has_dict_values=True),
                ColumnProperties("as_tuple", has_iterable_values=True),
                ColumnProperties("as_object", has_object_values=True)]

    class RoundTrip(enb.atable.ATable):
        stored_classes = [Point]  # ours loads pickled cells of these classes (1.1.3 ignores it)

        @enb.atable.column_function(declared)
        def set_all(self, index, row):
            if on_compute is not None:
                on_compute(index)
            row.update(expected(index))

    return RoundTrip


#: Index values of the second table: its keys are str(tuple) of text that CSV must quote.
NAMES = ["007", 'quote"d', "comma, inside", "it's", "ünïcode", "folder/file.png", "True", "1.5"]


def make_names_table(enb):
    class Names(enb.atable.ATable):
        def column_length(self, index, row):
            return len(index)

        def column_upper(self, index, row):
            return index.upper()

    return Names


def compare_names(df):
    mismatches = []
    for name in NAMES:
        got = df.loc[str((name,))]
        for column, want in (("name", name), ("length", len(name)), ("upper", name.upper())):
            value = got[column]
            if hasattr(value, "item") and type(value).__module__ == "numpy":
                value = value.item()
            if not same(value, want):
                mismatches.append((name, column, repr(value)[:60], repr(want)[:60]))
    return mismatches


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def compare(df, rows):
    """Return (mismatches, type names per column) of df against the expected values."""
    mismatches, kinds = [], {c: set() for c in COLUMNS}
    for i in range(rows):
        want = expected(i)
        got = df.loc[str((i,))]
        for column in COLUMNS:
            value = got[column]
            if hasattr(value, "item") and type(value).__module__ == "numpy":
                value = value.item()  # a cell of an int64/float64/bool column
            kinds[column].add(type(value).__name__)
            if not same(value, want[column]):
                mismatches.append((i, column, repr(value)[:60], repr(want[column])[:60]))
    return mismatches, {c: sorted(k) for c, k in kinds.items()}

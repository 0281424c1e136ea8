#!/usr/bin/env python3
"""The basic workflow of enb: a table over some files, then an analysis of its columns.

1. List the input samples (here, short biographies in data/wiki/).
2. Compute a table: one row per file, one column per function. Rows run in parallel, and
   a second run loads them instead of computing them.
3. Analyse the columns: statistics per group (CSV and LaTeX tables under analysis/) and plots
   (PDF and PNG under plots/).

Run it from any folder: paths are read against this script's folder.
"""
import glob
import os

import enb


class WikiTable(enb.atable.ATable):
    """One row per text file: its lines, its words and whether the person is alive."""

    # A method whose name starts with column_ defines the column after the prefix: it returns
    # the cell's value.
    def column_line_count(self, file_path, row):
        with open(file_path, encoding="utf-8") as text:
            return sum(1 for _ in text)

    # A column_function sets one or more columns in the row; ColumnProperties give the
    # analysis hints such as a label or the axis range.
    @enb.atable.column_function(
        enb.atable.ColumnProperties(name="word_count", label="Word count", plot_min=0),
        "status")
    def set_word_count(self, file_path, row):
        with open(file_path, encoding="utf-8") as text:
            contents = text.read()
        row["word_count"] = len(contents.split())
        row["status"] = "dead" if "death_place" in contents else "alive"


def main():
    project = os.path.dirname(os.path.abspath(__file__))
    # Step 1: the samples.
    sample_paths = sorted(glob.glob(os.path.join(project, "data", "wiki", "*.txt")))

    # Step 2: the table. Its CSV goes to persistence/ beside this script.
    table = WikiTable(index="file_path", csv_support_path="persistence/wiki.csv")
    result_df = table.get_df(target_indices=sample_paths)
    print(result_df[["file_path", "line_count", "word_count", "status"]].to_string(index=False))

    # Step 3: the analysis. Line counts of every file, word counts per status, and lines
    # against words.
    # column_to_properties: the columns' labels and ranges, as the table declared them.
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=result_df, target_columns=["line_count"],
        column_to_properties=table.column_to_properties)
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=result_df, target_columns=["word_count"], group_by="status", show_global=False,
        column_to_properties=table.column_to_properties)
    enb.aanalysis.TwoNumericAnalyzer().get_df(
        full_df=result_df, target_columns=[("line_count", "word_count")],
        column_to_properties=table.column_to_properties)
    print(f"Tables written to {enb.config.options.analysis_dir}, "
          f"plots to {enb.config.options.plot_dir}; open "
          f"{os.path.join(enb.config.options.analysis_dir, 'index.html')} to see them all.")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Version a dataset with enb.sets.FileVersionTable: a normalised copy of every text file.

Every *.txt file under original_data/ gets a version under versioned_data/, at the same
relative path: its lines stripped and lowercase. Versions are written in parallel, each one
atomically (a failure leaves no half-written file), and a second run versions nothing. The
returned table has one row per original file: its size, digest, versioning time...
"""
import enb


class TextNormalizationTable(enb.sets.FileVersionTable):
    """Lowercase copies of text files, without leading or trailing blanks on any line."""
    dataset_files_extension = "txt"

    def version(self, input_path, output_path, row):
        with open(input_path, encoding="utf-8") as input_file:
            contents = input_file.read()
        with open(output_path, "w", encoding="utf-8") as output_file:
            output_file.write("\n".join(line.lower().strip() for line in contents.splitlines()))


if __name__ == "__main__":
    # Relative folders are this script's, whatever folder it runs from. csv_support_path=""
    # keeps the table in memory: a second run finds the versions in place and keeps them.
    table = TextNormalizationTable(original_base_dir="original_data",
                                   version_base_dir="versioned_data", csv_support_path="")
    df = table.get_df()
    print(df[["file_path", "size_bytes", "version_time"]].to_string(index=False))

#!/usr/bin/env python3
"""Lossless compression experiment: every codec installed under plugins/ on every raw image
under datasets/.

Install codecs first, for instance ``enb plugin install zip plugins/zip`` and
``enb plugin install zstd plugins/zstd`` (``enb plugin list`` shows them all), then run
``python lossless_compression_experiment.py`` (``-h`` lists enb's options; ``--executor
local-ray`` or ``--ssh_cluster_csv_path enb_cluster.csv`` run the rows elsewhere).

Raw images carry their sample type and geometry in their names: ``u16be-3x600x800`` is 3
components of 600 rows by 800 columns of unsigned 16-bit big-endian samples (PNG, PGM and PPM
folders become such files with the png-to-raw and ppm-to-raw templates). Results are kept in
persistence/ (a second run computes only what is missing); figures go to plots/ and tables to
analysis/.
"""
import sys

import enb
from enb.config import options

import plugins  # noqa: F401 -- imports every plugin installed under plugins/


class LosslessExperiment(enb.icompression.LosslessCompressionExperiment):
    """Add your own columns here: a method ``column_<name>(self, index, row)`` returns the
    cell; ``self.codec_results.compression_results`` gives the compressed file of the row."""


def installed_codecs() -> list:
    """Return one instance, with default parameters, of every lossless codec of plugins/."""
    codecs = []
    for cls in sorted(enb.misc.get_all_subclasses(enb.icompression.LosslessCodec),
                      key=lambda c: c.__name__):
        if not enb.misc.class_to_fqn(cls).startswith("plugins.") \
                or "abstract" in cls.__name__.lower():
            continue
        try:
            codecs.append(cls())
        except Exception as error:  # e.g. its program is not installed: it says which package
            print(f"Codec {cls.__name__} is left out: {error}", file=sys.stderr)
    return codecs


def main() -> int:
    codecs = installed_codecs()
    if not codecs:
        print("No codec is installed under plugins/. Install some, e.g. "
              "`enb plugin install zip plugins/zip` (`enb plugin list` shows them all).",
              file=sys.stderr)
        return 1
    experiment = LosslessExperiment(codecs=codecs)
    try:
        df = experiment.get_df()
    except enb.atable.ColumnFailedError as failures:
        # Every other row was computed and saved; report the failed ones and go on with those.
        print(f"{len(failures.exception_list)} rows failed (a codec that does not take some "
              f"file type, for instance):\n{failures}", file=sys.stderr)
        df = experiment.get_df(fill=False)
        df = df[df["lossless_reconstruction"].notna()]

    properties = experiment.joined_column_to_properties
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=df, column_to_properties=properties, group_by="task_label",
        target_columns=["compression_ratio_dr", "bpppc", "compression_time_seconds",
                        "decompression_time_seconds", "compression_efficiency_1byte_entropy"],
        selected_render_modes={"histogram"})
    enb.aanalysis.TwoNumericAnalyzer().get_df(
        full_df=df, column_to_properties=properties, group_by="task_label",
        target_columns=[("bpppc", "compression_time_seconds"),
                        ("compression_time_seconds", "compression_efficiency_1byte_entropy")],
        selected_render_modes={"scatter"})
    enb.aanalysis.ScalarNumericJointAnalyzer().get_df(
        full_df=df, column_to_properties=properties,
        target_columns=[("task_label", "corpus", "bpppc")])

    print(f"Experiment complete: {len(df)} rows. Figures in {options.plot_dir}, tables in "
          f"{options.analysis_dir}, results kept in {options.persistence_dir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

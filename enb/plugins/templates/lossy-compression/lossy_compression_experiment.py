#!/usr/bin/env python3
"""Lossy compression experiment: rate against distortion for families of codec settings.

Each family is one codec at several settings (quality, compression ratio, quantization
step), built from the codec plugins installed under plugins/: install some first, e.g.
``enb plugin install zip plugins/zip`` (quantization + LZMA), ``enb plugin install jpegxl
plugins/jpegxl``, ``enb plugin install jpeg2000 plugins/jpeg2000``, ``enb plugin install webp
plugins/webp``, then run ``python lossy_compression_experiment.py``.

Every row measures the compressed rate (bpppc), MSE, PAE and PSNR; figures go to plots/,
tables to analysis/, results are kept in persistence/.
"""
import sys

import enb
from enb.config import options

import plugins


class LossyExperiment(enb.icompression.LossyCompressionExperiment):
    """Add your own columns here (a method ``column_<name>(self, index, row)``)."""


def codec_families():
    """Return (codecs, families): one family per installed lossy codec, several settings each."""
    families = []
    if hasattr(plugins, "zip"):
        families.append(("Uniform quantization + LZMA", [
            enb.icompression.QuantizationWrapperCodec(plugins.zip.LZMA(), qstep=qstep)
            for qstep in (2, 4, 8, 16)]))
    if hasattr(plugins, "jpegxl"):
        families.append(("JPEG XL", [plugins.jpegxl.JPEG_XL(quality_0_to_100=q, lossless=False)
                                     for q in (50, 70, 85, 95)]))
    if hasattr(plugins, "jpeg2000"):
        families.append(("JPEG 2000", [plugins.jpeg2000.JPEG2000(compression_ratio=r)
                                       for r in (32, 16, 8, 4)]))
    if hasattr(plugins, "webp"):
        families.append(("WebP", [plugins.webp.WebP(quality=q) for q in (50, 70, 85, 95)]))
    codecs, task_families = [], []
    for label, members in families:
        family = enb.experiment.TaskFamily(label)
        for codec in members:
            family.add_task(codec.name, codec.label)
            codecs.append(codec)
        task_families.append(family)
    return codecs, task_families


def main() -> int:
    try:
        codecs, families = codec_families()
    except FileNotFoundError as error:  # a plugin's program is missing: it says which package
        print(error, file=sys.stderr)
        return 1
    if not codecs:
        print("No lossy codec plugin is installed under plugins/. Install some, e.g. "
              "`enb plugin install zip plugins/zip` or `enb plugin install jpegxl "
              "plugins/jpegxl` (`enb plugin list` shows them all).", file=sys.stderr)
        return 1
    experiment = LossyExperiment(codecs=codecs, task_families=families)
    df = experiment.get_df()

    properties = experiment.joined_column_to_properties
    properties["pae"].plot_max = 20
    scalar = enb.aanalysis.ScalarNumericAnalyzer()
    scalar.show_x_std = True
    scalar.get_df(full_df=df, column_to_properties=properties, group_by="task_label",
                  target_columns=["bpppc", "compression_ratio_dr", "compression_time_seconds",
                                  "decompression_time_seconds", "pae", "psnr_bps", "psnr_dr"],
                  selected_render_modes={"histogram"})
    two = enb.aanalysis.TwoNumericAnalyzer()
    two.show_individual_samples = False
    two.get_df(full_df=df, column_to_properties=properties, group_by=families,
               target_columns=[("bpppc", "psnr_dr"), ("bpppc", "pae"),
                               ("bpppc", "compression_time_seconds")],
               selected_render_modes={"line"})

    print(f"Experiment complete: {len(df)} rows. Figures in {options.plot_dir}, tables in "
          f"{options.analysis_dir}, results kept in {options.persistence_dir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

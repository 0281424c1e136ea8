#!/usr/bin/env python3
"""A gallery of enb's analyzers: each of their render modes, on data generated here.

The data look like a compression experiment's results (three codecs on two corpora of
images: bits per sample, time, PSNR, a histogram of symbols per image) plus a function over a
plane. Run it from anywhere, with any enb flag (``--executor local-ray``, ``--cpu_limit 2``):

    python generate_gallery.py

Figures go to ``plots/generate_gallery/`` beside this script, summary tables to
``analysis/generate_gallery/``, and ``analysis/generate_gallery/index.html`` shows them all.
"""
import os

import numpy as np
import pandas as pd

import enb
from enb.config import options

CODECS = {"zstd": (3.1, 0.8), "lzma": (2.9, 2.5), "png": (3.6, 0.3)}  # bits, seconds
CORPORA = {"photos": 1.0, "scans": 0.8}


def experiment_results(seed: int = 2026) -> pd.DataFrame:
    """Return one row per (codec, corpus, image), like an Experiment's get_df()."""
    rng = np.random.default_rng(seed)
    rows = []
    for codec, (bits, seconds) in CODECS.items():
        for corpus, difficulty in CORPORA.items():
            for image in range(40):
                bpppc = rng.normal(bits * difficulty, 0.35)
                symbols = rng.poisson(200 * np.exp(-np.arange(16) / (2 + bpppc)))
                rows.append({
                    "codec": codec, "corpus": corpus, "image": f"{corpus}/{image:02d}.raw",
                    "bpppc": bpppc,
                    "compression_time": rng.lognormal(np.log(seconds), 0.3),
                    "psnr": 28 + 4 * bpppc + rng.normal(0, 1.2),
                    "symbol_counts": {int(k): int(v) for k, v in enumerate(symbols)},
                })
    return pd.DataFrame(rows)


def plane(seed: int = 7) -> pd.DataFrame:
    """Return samples of two surfaces over [-1, 1]^2."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-1, 1, 6000), rng.uniform(-1, 1, 6000)
    surface = np.where(np.arange(6000) % 2 == 0, "ripple", "saddle")
    value = np.where(surface == "ripple", np.cos(4 * np.hypot(x, y)) + 1, x * x - y * y + 1)
    return pd.DataFrame({"x": x, "y": y, "value": value, "surface": surface})


def folder(name: str) -> str:
    return os.path.join(options.plot_dir, name)


def main():
    results = experiment_results()
    properties = {
        "bpppc": enb.atable.ColumnProperties("bpppc", label="Compressed data rate (bpppc)",
                                             plot_min=0),
        "compression_time": enb.atable.ColumnProperties(
            "compression_time", label="Compression time (s)"),
        "psnr": enb.atable.ColumnProperties("psnr", label="PSNR (dB)"),
        "symbol_counts": enb.atable.ColumnProperties(
            "symbol_counts", label="Symbol frequency", has_dict_values=True),
    }

    # Distributions of one column: histogram, horizontal bars and box plot.
    scalar = enb.aanalysis.ScalarNumericAnalyzer()
    scalar.get_df(full_df=results, target_columns=["bpppc", "compression_time"],
                  column_to_properties=properties, output_plot_dir=folder("scalar"))
    scalar.get_df(full_df=results, target_columns=["bpppc", "compression_time"],
                  group_by="codec", column_to_properties=properties,
                  output_plot_dir=folder("scalar"))
    # Every sample on the box plots, groups ordered by their average.
    individual = enb.aanalysis.ScalarNumericAnalyzer()
    individual.show_individual_samples = True
    individual.sort_by_average = True
    individual.get_df(full_df=results, target_columns=["bpppc"], group_by="codec",
                      column_to_properties=properties, selected_render_modes="boxplot",
                      output_plot_dir=folder("scalar_individual"), show_grid=True)
    # Differences against a reference codec, and all groups in one plot.
    scalar.get_df(full_df=results, target_columns=["bpppc"], group_by="codec",
                  reference_group="zstd", column_to_properties=properties,
                  output_plot_dir=folder("scalar_reference"))
    scalar.get_df(full_df=results, target_columns=["bpppc"], group_by="codec",
                  combine_groups=True, legend_column_count=3, column_to_properties=properties,
                  selected_render_modes="histogram", output_plot_dir=folder("scalar_combined"))
    # Groups by two columns at once.
    scalar.get_df(full_df=results, target_columns=["bpppc"], group_by=["codec", "corpus"],
                  column_to_properties=properties, selected_render_modes="hbar",
                  output_plot_dir=folder("scalar_two_keys"))

    # Pairs of columns: scatter (averages, +-1 std, the least-squares line) and lines.
    two = enb.aanalysis.TwoNumericAnalyzer()
    two.get_df(full_df=results, target_columns=[("bpppc", "psnr")], group_by="codec",
               column_to_properties=properties, output_plot_dir=folder("two_numeric"))
    regression = enb.aanalysis.TwoNumericAnalyzer()
    regression.show_linear_regression = True
    regression.show_x_std = regression.show_y_std = False
    regression.get_df(full_df=results, target_columns=[("bpppc", "psnr")], group_by="corpus",
                      column_to_properties=properties, selected_render_modes="scatter",
                      output_plot_dir=folder("two_numeric_regression"))

    # Dicts of numbers: average frequency of each symbol, per codec; then binned into 4.
    dicts = enb.aanalysis.DictNumericAnalyzer()
    dicts.get_df(full_df=results, target_columns=["symbol_counts"], group_by="codec",
                 column_to_properties=properties, combine_groups=True,
                 output_plot_dir=folder("dict_numeric"))
    binned = enb.aanalysis.DictNumericAnalyzer(
        combine_keys_callable=enb.aanalysis.HistogramKeyBinner(0, 16, 4, normalize=True))
    binned.get_df(full_df=results, target_columns=["symbol_counts"], group_by="codec",
                  column_to_properties=properties, output_plot_dir=folder("dict_binned"))

    # A value over a plane, as a colour map per surface.
    colormap = enb.aanalysis.ScalarNumeric2DAnalyzer()
    colormap.bin_count = 25
    surfaces = plane()
    colormap.get_df(full_df=surfaces, target_columns=[("x", "y", "value")],
                    group_by="surface", fig_width=5, fig_height=8,
                    output_plot_dir=folder("colormap"))

    # A table of averages by codec and corpus, with "All" row and column, best in bold.
    joint = enb.aanalysis.ScalarNumericJointAnalyzer()
    joint.get_df(full_df=results, target_columns=[("codec", "corpus", "bpppc")],
                 show_global_row=True, show_global_column=True, highlight_best_row="low",
                 column_to_properties=properties, output_plot_dir=folder("joint"))

    # matplotlib styles combine, left to right: a matplotlib style, then enb's "slides".
    scalar.get_df(full_df=results, target_columns=["psnr"], group_by="codec",
                  column_to_properties=properties, selected_render_modes="boxplot",
                  style_list=["bmh", "slides"], output_plot_dir=folder("style_bmh_slides"))

    print(f"Figures are in {options.plot_dir}; open "
          f"{os.path.join(options.analysis_dir, 'index.html')} to see them all.")


if __name__ == "__main__":
    main()

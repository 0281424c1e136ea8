#!/usr/bin/env python3
"""Try every installed codec on a small generated corpus and report which are lossless.

    python test_all_codecs.py [NAME ...]

Every codec plugin of enb's catalogue not yet under plugins/ is installed there first. Then
each codec class of plugins/ (with default parameters; only those whose names contain one of
the NAMEs, if given) compresses and decompresses every image of data/ (generate_test_images.py
makes them: every sample type, 1 to 4 components). For each codec and image type the report
says: lossless, lossy (the reconstruction differs) or fails (and why). It is printed, written
to codec_availability.csv, and drawn in plots/ when enb[plot] is installed.
"""
import importlib
import os
import re
import sys

import pandas as pd

import enb
from enb.compression.cycle import CompressionCycle
from enb.compression.experiment import first_difference
from enb.config import options

HERE = os.path.dirname(os.path.abspath(__file__))
LOSSLESS, LOSSY, FAILS = "lossless", "lossy", "fails"
LEVELS = {FAILS: 0, LOSSY: 1, LOSSLESS: 2}


class AvailabilityExperiment(enb.experiment.Experiment):
    """Rows: image x codec. A codec that fails is a result here, not an error."""
    dataset_files_extension = "raw"

    def __init__(self, codecs):
        super().__init__(tasks=codecs, dataset_info_table=enb.isets.ImagePropertiesTable)

    @enb.atable.column_function([
        enb.atable.ColumnProperties("availability", label="Result"),
        enb.atable.ColumnProperties("compression_ratio", label="Compression ratio"),
        enb.atable.ColumnProperties("error", label="Why it failed"),
    ])
    def set_availability(self, index, row):
        path, codec = self.index_to_path_task(index)
        info = self.get_dataset_info_row(path).to_dict()
        cycle = CompressionCycle(path, codec, info)
        try:
            compressed = cycle.compression_results.compressed_path
            reconstructed = cycle.decompression_results.reconstructed_path
            row["compression_ratio"] = os.path.getsize(path) / os.path.getsize(compressed)
            row["availability"] = LOSSLESS if first_difference(path, reconstructed) is None \
                else LOSSY
            row["error"] = ""
        except Exception as error:  # the codec does not take this image (or is broken)
            row["availability"], row["compression_ratio"] = FAILS, 0.0
            row["error"] = f"{type(error).__name__}: {error}".strip().splitlines()[0][:300]
        finally:
            cycle.close()


def install_codec_plugins() -> None:
    """Install every codec plugin of enb's catalogue that plugins/ does not have yet."""
    for name, template in enb.plugins.TEMPLATES.items():
        if "codec" in getattr(template, "tags", ()) and \
                not os.path.isdir(os.path.join(HERE, "plugins", name)):
            enb.plugins.install(name, os.path.join(HERE, "plugins", name),
                                automatic_import=False)


def codec_instances(filters) -> list:
    """Instantiate every codec class of plugins/ (those matching a filter, if any)."""
    sys.path.insert(0, HERE)
    importlib.import_module("plugins")
    classes = enb.misc.get_all_subclasses(enb.icompression.LosslessCodec,
                                          enb.icompression.LossyCodec)
    codecs = []
    for cls in sorted(classes, key=lambda c: c.__name__.lower()):
        if not enb.misc.class_to_fqn(cls).startswith("plugins.") \
                or "abstract" in cls.__name__.lower() \
                or (filters and not any(f.lower() in cls.__name__.lower() for f in filters)):
            continue
        try:
            codecs.append(cls())
        except Exception as error:  # its program is missing: the message names the package
            print(f"{cls.__name__}: not available: {error}")
    return codecs


def type_key(row) -> str:
    return f"{row['type_name']} x{row['component_count']}"


def natural(text: str):
    """Sort key that puts u8be before u16be (numbers by value)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def main() -> int:
    filters = [a for a in sys.argv[1:] if not a.startswith("-")]
    install_codec_plugins()
    codecs = codec_instances(filters)
    if not codecs:
        print(f"No codec matches {filters}" if filters else "No codec is installed")
        return 1
    from generate_test_images import generate_test_images
    options.base_dataset_dir = os.path.join(HERE, "data")
    generate_test_images(options.base_dataset_dir)

    df = AvailabilityExperiment(codecs=codecs).get_df()
    df["image_type"] = df.apply(type_key, axis=1)
    table = df.pivot_table(index="task_label", columns="image_type", values="availability",
                           aggfunc="first")
    table = table[sorted(table.columns, key=natural)]
    table.to_csv(os.path.join(HERE, "codec_availability.csv"))
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.to_string())
    for label, rows in df.groupby("task_label"):
        counts = rows["availability"].value_counts()
        print(f"{label}: lossless on {counts.get(LOSSLESS, 0)} image types, lossy on "
              f"{counts.get(LOSSY, 0)}, fails on {counts.get(FAILS, 0)}")
    plot(table)
    return 0


def plot(table) -> None:
    """Draw the codec x image type grid of results (needs enb[plot], i.e. matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch
    except ImportError:
        print("(no figure: pip install 'enb[plot]' to draw one)")
        return
    colours = {FAILS: "#d9d9d9", LOSSY: "#f4a259", LOSSLESS: "#4c9f70"}
    levels = table.apply(lambda column: column.map(LEVELS)).to_numpy(dtype=float)
    figure, axes = plt.subplots(figsize=(2 + 0.32 * table.shape[1], 1.2 + 0.32 * table.shape[0]))
    axes.imshow(levels, cmap=ListedColormap([colours[k] for k in LEVELS]), vmin=0, vmax=2,
                aspect="auto")
    axes.set_xticks(range(table.shape[1]), table.columns, rotation=90)
    axes.set_yticks(range(table.shape[0]), table.index)
    axes.set_xticks([x - 0.5 for x in range(1, table.shape[1])], minor=True)
    axes.set_yticks([y - 0.5 for y in range(1, table.shape[0])], minor=True)
    axes.grid(which="minor", color="white", linewidth=1.5)
    axes.tick_params(which="minor", length=0)
    axes.set_xlabel("Image type (sample type x components)")
    axes.legend(handles=[Patch(color=colours[k], label=k) for k in (LOSSLESS, LOSSY, FAILS)],
                loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    figure.tight_layout()
    os.makedirs(options.plot_dir, exist_ok=True)
    for extension in ("png", "pdf"):
        figure.savefig(os.path.join(options.plot_dir, f"codec_availability.{extension}"),
                       dpi=150)
    plt.close(figure)
    print(f"Figure: {os.path.join(options.plot_dir, 'codec_availability.png')}")


if __name__ == "__main__":
    sys.exit(main())

"""The plugin catalogue: every template and plugin ``enb plugin install NAME DIR`` can write.

An entry is data: a name, a one-line description, tags, the entries installed beside it first,
and a folder of files under ``enb/plugins/templates/<folder>/`` shipped as package data. Adding
one is a folder of files and one line here. Importing this module is cheap (``enb plugin list``
runs on it alone).
"""
from __future__ import annotations

import os
from typing import NamedTuple

_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


class Entry(NamedTuple):
    """One installable set of files.

    ``requires``: entries installed into the same folder first (enb 1.x's montecarlo-pi brings
    its cluster-config along). ``next_step`` is shown once the files are in place; ``{dir}`` in
    it becomes the destination folder. ``kind``: "template" (files added to a project folder)
    or "plugin" (a package folder, imported by the project's scripts).
    """
    name: str
    description: str
    requires: tuple = ()
    next_step: str = ""
    tags: tuple = ()
    kind: str = "template"
    folder: str = ""

    @property
    def files_folder(self) -> str:
        """The folder of its files under ``enb/plugins/templates``."""
        return self.folder or self.name

    @property
    def label(self) -> str:
        """enb 1.x's name of the description."""
        return self.description

    @property
    def available(self) -> bool:
        """Whether its files ship with this enb (entries being written have none yet)."""
        return os.path.isdir(os.path.join(_FILES, self.files_folder))


_CODEC_NEXT_STEP = ("Import it from your scripts (e.g. `import plugins` with the project's "
                    "plugins/ folder) and add its codecs to a compression experiment")

ENTRIES = (
    # Configuration files
    Entry("cluster-config", "Template of a CSV configuration file for enb clusters "
          "(enb_cluster.csv)", tags=("project",),
          next_step="Add one row per remote node to {dir}/enb_cluster.csv, then run your "
                    "script with --ssh_cluster_csv_path=enb_cluster.csv"),
    Entry("enb.ini", "A commented enb.ini with every option of enb and its default",
          tags=("project",), folder="enb-ini",
          next_step="Uncomment and change the options you need in {dir}/enb.ini: it applies to "
                    "every script in that folder"),
    Entry("matplotlibrc", "A matplotlibrc file with the style of enb's plots",
          tags=("project",),
          next_step="Every figure of the project in {dir} now starts from {dir}/matplotlibrc "
                    "(enb reads it from the project root, whatever the current folder)"),
    Entry("colors-default", "Colours of enb's messages, for light or dark terminals",
          tags=("project",)),
    Entry("colors-dark", "Colours of enb's messages, for dark terminals", tags=("project",)),
    # Example projects
    Entry("basic-workflow", "Basic, self-contained example of enb's workflow: a table, its "
          "analysis and plots", tags=("project", "documentation"),
          next_step="Run it with: python {dir}/basic_workflow.py"),
    Entry("experiment", "Generic experiment template (an Experiment, its tasks and analysis)",
          requires=("enb.ini",), tags=("project", "documentation"),
          next_step="Put your data in {dir}/datasets, then run: python {dir}/experiment.py"),
    Entry("file_version_example", "Template and usage example of FileVersionTable for "
          "dataset curation", tags=("project", "documentation"),
          next_step="Run it with: python {dir}/file_version_example_lowercase.py"),
    Entry("montecarlo-pi", "Demo project that approximates pi in a distributed way",
          requires=("cluster-config",), tags=("documentation",),
          next_step="Run it with: python {dir}/montecarlo_pi_experiment.py"),
    Entry("analysis-gallery", "Self-contained gallery of data analysis and plotting examples",
          tags=("documentation",),
          next_step="Run it with: python {dir}/generate_gallery.py, then open "
                    "{dir}/analysis/generate_gallery/index.html"),
    Entry("lossless-compression", "Template for lossless compression experiments",
          requires=("enb.ini",), tags=("project", "image", "data compression", "documentation"),
          next_step="Install codecs, e.g. `enb plugin install zip {dir}/plugins/zip`, then run "
                    "python {dir}/lossless_compression_experiment.py"),
    Entry("lossy-compression", "Template for lossy compression experiments",
          requires=("enb.ini",), tags=("project", "image", "data compression", "documentation"),
          next_step="Install codecs, e.g. `enb plugin install jpegxl {dir}/plugins/jpegxl`, "
                    "then run python {dir}/lossy_compression_experiment.py"),
    Entry("png-to-raw", "Curate a folder of PNG files into raw (fixed-length) images",
          tags=("data compression", "image"),
          next_step="Run it with: python {dir}/png_to_raw.py PNG_FOLDER RAW_FOLDER"),
    Entry("ppm-to-raw", "Curate a folder of PPM and PGM files into raw (fixed-length) images",
          tags=("data compression", "image"),
          next_step="Run it with: python {dir}/ppm_to_raw.py PPM_FOLDER RAW_FOLDER"),
    Entry("test-codecs", "Run every installed codec on a small generated corpus and report "
          "which are lossless", tags=("data compression", "image", "test"),
          next_step="Run it with: python {dir}/test_all_codecs.py (codec plugins are "
                    "installed into {dir}/plugins on the first run)"),
    # Codec plugins
    *(Entry(name, description, tags=("codec", "data compression"), kind="plugin",
            next_step=_CODEC_NEXT_STEP)
      for name, description in (
          ("zip", "Codecs from Python's standard library: DEFLATE (zlib), LZMA and BZIP2"),
          ("lz4", "LZ4 through the lz4 program (Debian package lz4)"),
          ("zstd", "Zstandard through the zstd program (Debian package zstd)"),
          ("xz", "XZ (LZMA2) through the xz program (Debian package xz-utils)"),
          ("bzip2", "bzip2 through the bzip2 program (Debian package bzip2)"),
          ("brotli", "Brotli through the brotli program (Debian package brotli)"),
          ("jpegxl", "JPEG XL through cjxl and djxl (Debian package libjxl-tools)"),
          ("webp", "WebP, lossy and lossless, through cwebp and dwebp (Debian package webp)"),
          ("jpeg2000", "JPEG 2000 through OpenJPEG's opj_compress and opj_decompress "
                       "(Debian package libopenjp2-tools)"),
          ("fpack", "FITS tile compression (Rice, GZIP, H-compress) through cfitsio's fpack "
                    "and funpack (Debian package libcfitsio-bin; needs enb[fits])"))),
)

#: Every entry, by name, in the order ``enb plugin list`` shows them.
CATALOGUE: dict[str, Entry] = {entry.name: entry for entry in ENTRIES}

#: What each tag means (``enb plugin list`` filters on tags too).
TAG_DESCRIPTIONS = {
    "documentation": "examples referenced in the user manual",
    "codec": "data compression/decompression classes",
    "data compression": "data compression tools",
    "project": "project templates, including configuration files",
    "test": "for testing",
    "image": "image processing (compression and analysis included)",
}

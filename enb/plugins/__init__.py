"""Templates that ``enb plugin install NAME [DIR]`` copies into a project.

A template is data: a name, a one-line description, the templates it needs installed beside it,
and a folder of files under ``enb/plugins/templates/<name>/`` shipped as package data. The code
that copies the files lives in :mod:`enb.plugins.installer`; the command line in
:mod:`enb.plugins.cli`. Adding a template is a folder of files and one entry in
:data:`TEMPLATES`.

Importing this module is cheap (``enb plugin list`` runs on it alone).
"""
from __future__ import annotations

from typing import NamedTuple


class Template(NamedTuple):
    """A set of files to copy into a project folder.

    ``requires`` names templates installed into the same folder first (enb 1.x's montecarlo-pi
    brings its cluster-config along). ``next_step`` is shown once the files are in place;
    ``{dir}`` in it becomes the destination folder.
    """
    name: str
    description: str
    requires: tuple[str, ...] = ()
    next_step: str = ""


#: Every installable template, by name, in the order ``enb plugin list`` shows them.
TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template(
        name="cluster-config",
        description="Template of a CSV configuration file for enb clusters (enb_cluster.csv)",
        next_step="Add one row per remote node to {dir}/enb_cluster.csv, then run your script "
                  "with --ssh_cluster_csv_path=enb_cluster.csv",
    ),
    *(Template(name=name, description=description,
               next_step="Import it from your scripts (e.g. `import plugins` with the project's "
                         "plugins/ folder) and add its codecs to a compression experiment")
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
                       "(Debian package libopenjp2-tools)"))),
    Template(
        name="montecarlo-pi",
        description="Demo project that approximates pi in a distributed way",
        requires=("cluster-config",),
        next_step="Run it with: python {dir}/montecarlo_pi_experiment.py",
    ),
)}


def install(name: str, target_dir: str | None = None, overwrite: bool = False) -> list:
    """Install template ``name`` into ``target_dir`` (default ``plugins/<name>``), as enb 1.x.

    As in enb 1.x, nothing happens when ``target_dir`` already exists and ``overwrite`` is
    false, so a script can call this on every run. Return the paths written.
    Raise :class:`enb.plugins.installer.UnknownTemplateError` for an unknown name.
    """
    import os

    from enb.plugins import installer

    target_dir = installer.default_destination(name) if target_dir is None else target_dir
    if os.path.exists(target_dir) and not overwrite:
        installer.template(name)  # an unknown name is still an error
        return []
    return installer.install(name, target_dir, force=overwrite)

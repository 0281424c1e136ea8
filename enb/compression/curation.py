"""Curation tables: a folder of PNG, PGM, PPM, JPEG, FITS or PDF files, versioned as raw.

Each writes, for every file of a dataset folder, a raw image whose name carries the tags
enb reads (``-u8be-3x600x800.raw``), in a mirrored folder tree (see
:class:`enb.sets.FileVersionTable`). These are enb 1.x's ``PNGCurationTable``,
``PGMCurationTable``, ``PPMCurationTable``, ``JPEGCurationTable``, ``FITSVersionTable`` and
``PDFToPNG``; the format modules (:mod:`enb.compression.png`, ...) expose them.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from .. import atable, sets
from .png import png_to_raw


class PNGCurationTable(sets.FileVersionTable):
    """Write every PNG file under ``original_base_dir`` as a raw BSQ image (u8be or u16be,
    named with its tags) under ``version_base_dir``."""
    dataset_files_extension = "png"

    def __init__(self, original_base_dir, version_base_dir, csv_support_path=None):
        super().__init__(version_base_dir=version_base_dir, version_name=type(self).__name__,
                         original_base_dir=original_base_dir, check_generated_files=False,
                         csv_support_path=csv_support_path)

    def version(self, input_path, output_path, row):
        stem, _ = os.path.splitext(output_path)
        png_to_raw(input_path, stem + ".raw")


class PGMCurationTable(PNGCurationTable):
    """Write every PGM file as a raw image (16-bit ones exactly, big-endian)."""
    dataset_files_extension = "pgm"


class PPMCurationTable(PNGCurationTable):
    """Write every PPM file as a raw image of 3 components."""
    dataset_files_extension = "ppm"


class JPEGCurationTable(PNGCurationTable):
    """Write every JPEG (``.jpg``) file as a raw image of its decoded samples."""
    dataset_files_extension = "jpg"


class FITSVersionTable(sets.FileVersionTable):
    """Write every image (HDU with data) of every FITS file as a raw image.

    ``dir/name.fits`` gives ``dir/<type>/name_img<i>-<type>-ZxYxX.raw`` under the version
    folder, one per image (``<type>``: u16be, s16be, f32, ...), and its FITS header as text
    in the mirrored folder ``<version folder>_headers``. Needs ``enb[fits]`` (astropy).
    """
    fits_extension = "fit"
    allowed_extensions = ["fit", "fits"]
    version_name = "FitsToRaw"

    def __init__(self, original_base_dir, version_base_dir, csv_support_path=None):
        super().__init__(original_base_dir=original_base_dir, version_base_dir=version_base_dir,
                         version_name=self.version_name, check_generated_files=False,
                         csv_support_path=csv_support_path)

    def get_default_target_indices(self):
        found = []
        for extension in self.allowed_extensions:
            found.extend(atable.get_all_input_files(ext=f".{extension}",
                                                    base_dataset_dir=self.original_base_dir))
        return sorted(set(found))

    def original_to_versioned_path(self, original_path):
        stem, extension = os.path.splitext(super().original_to_versioned_path(original_path))
        if extension.lower() not in (".fit", ".fits"):
            raise ValueError(f"{original_path}: not a .fit or .fits file")
        return stem + ".raw"

    @atable.column_function("version_repetitions")
    def set_version_repetitions(self, file_path, row):
        row["version_repetitions"] = 1

    def version(self, input_path, output_path, row):
        from .fits import fits_sample_type, read_fits_images
        from .. import isets
        stem = os.path.basename(output_path)[:-len(".raw")]
        versioned = os.path.dirname(self.original_to_versioned_path(input_path))
        headers = versioned.replace(self.version_base_dir, self.version_base_dir + "_headers", 1)
        for index, (image, header) in enumerate(read_fits_images(input_path)):
            sample_type = fits_sample_type(image)
            width, height, components = image.shape
            name = f"{stem}_img{index}-{sample_type.tag}-{components}x{height}x{width}.raw"
            isets.dump_array_bsq(image, os.path.join(os.path.dirname(output_path),
                                                     sample_type.tag, name),
                                 dtype=sample_type.dtype)
            header_path = os.path.join(headers, sample_type.tag,
                                       name[:-len(".raw")] + "-fits_header.txt")
            os.makedirs(os.path.dirname(header_path), exist_ok=True)
            descriptor, partial = tempfile.mkstemp(dir=os.path.dirname(header_path),
                                                   prefix=".header-")
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(header.tostring(sep="\n"))
            os.replace(partial, header_path)


class PDFToPNG(sets.FileVersionTable):
    """Render the single page of every PDF file as a PNG image (with pdftoppm, Debian
    package poppler-utils), keeping the folder structure."""
    dataset_files_extension = "pdf"

    def __init__(self, input_pdf_dir, output_png_dir, csv_support_path=None,
                 resolution_dpi=200):
        super().__init__(version_name="pdf_to_png", original_base_dir=input_pdf_dir,
                         version_base_dir=output_png_dir, csv_support_path=csv_support_path,
                         check_generated_files=False)
        self.resolution_dpi = resolution_dpi

    def version(self, input_path, output_path, row):
        from .. import tcall
        program = shutil.which("pdftoppm")
        if program is None:
            raise FileNotFoundError("PDFToPNG needs the pdftoppm program; on Debian or Ubuntu: "
                                    "apt-get install poppler-utils")
        stem, _ = os.path.splitext(output_path)
        tcall.get_status_output_time([program, "-png", "-singlefile", "-r",
                                      str(self.resolution_dpi), input_path, stem])


def pdf_to_png(input_dir, output_dir) -> None:
    """Render every PDF file under ``input_dir`` as a PNG under ``output_dir``."""
    with tempfile.TemporaryDirectory() as folder:
        PDFToPNG(input_pdf_dir=input_dir, output_png_dir=output_dir,
                 csv_support_path=os.path.join(folder, "pdf_to_png.csv")).get_df()

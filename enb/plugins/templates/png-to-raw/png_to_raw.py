#!/usr/bin/env python3
"""Curate a folder of PNG images into raw (BSQ) images named after their geometry.

Usage: python png_to_raw.py PNG_FOLDER RAW_FOLDER

Every PNG file under PNG_FOLDER becomes a raw image at the same relative place under
RAW_FOLDER, named like ``name-u8be-3x480x640.raw`` (sample type, components x height x width),
the names enb's image experiments read the geometry from. RAW_FOLDER must not exist yet.
"""
import argparse
import os
import sys

import enb
from enb.compression.png import PNGCurationTable


def png_to_raw(png_dir_path, raw_dir_path):
    PNGCurationTable(original_base_dir=png_dir_path, version_base_dir=raw_dir_path,
                     csv_support_path=None).get_df()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png_dir", help="folder of the PNG files (must exist)")
    parser.add_argument("raw_dir", help="folder where the raw images are written (must not exist)")
    arguments, _enb_flags = parser.parse_known_args()
    if not os.path.isdir(arguments.png_dir):
        enb.logger.error(f"PNG folder {arguments.png_dir} does not exist.")
        sys.exit(1)
    if os.path.exists(arguments.raw_dir):
        enb.logger.error(f"Raw folder {arguments.raw_dir} already exists: choose another one.")
        sys.exit(1)
    png_to_raw(os.path.abspath(arguments.png_dir), os.path.abspath(arguments.raw_dir))

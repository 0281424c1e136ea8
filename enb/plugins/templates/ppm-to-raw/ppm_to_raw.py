#!/usr/bin/env python3
"""Curate a folder of PPM (colour) and PGM (grey) images into raw (BSQ) images named after their geometry.

Usage: python ppm_to_raw.py PPM_FOLDER RAW_FOLDER

Every .ppm and .pgm file under PPM_FOLDER becomes a raw image at the same relative place under
RAW_FOLDER, named like ``name-u8be-3x480x640.raw`` (sample type, components x height x width),
the names enb's image experiments read the geometry from. RAW_FOLDER must not exist yet.
"""
import argparse
import os
import sys

import enb
from enb.compression.pgm import PGMCurationTable, PPMCurationTable


def ppm_to_raw(ppm_dir_path, raw_dir_path):
    for kind in (PPMCurationTable, PGMCurationTable):
        table = kind(original_base_dir=ppm_dir_path, version_base_dir=raw_dir_path,
                     csv_support_path=None)
        if table.get_default_target_indices():  # a folder may hold only one of the two kinds
            table.get_df()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ppm_dir", help="folder of the PPM and PGM files (must exist)")
    parser.add_argument("raw_dir", help="folder where the raw images are written (must not exist)")
    arguments, _enb_flags = parser.parse_known_args()
    if not os.path.isdir(arguments.ppm_dir):
        enb.logger.error(f"PPM folder {arguments.ppm_dir} does not exist.")
        sys.exit(1)
    if os.path.exists(arguments.raw_dir):
        enb.logger.error(f"Raw folder {arguments.raw_dir} already exists: choose another one.")
        sys.exit(1)
    ppm_to_raw(os.path.abspath(arguments.ppm_dir), os.path.abspath(arguments.raw_dir))

"""Image version tables and curation tables: what each writes, checked sample by sample."""
import json
import os

import numpy as np
import pytest

from enb import isets
from enb.compression import netpbm, png


@pytest.fixture
def folders(tmp_path, fresh_options):
    fresh_options.project_root = str(tmp_path)
    fresh_options.persistence_dir = str(tmp_path / "persistence")
    return tmp_path / "original", tmp_path / "version"


def _image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -300), min(info.max, 3000) + 1, shape).astype(dtype)


@pytest.mark.parametrize("table_class, order", [(isets.BIPToBSQ, "bip"),
                                                (isets.BILToBSQ, "bil")])
def test_interleaved_images_become_band_sequential(folders, table_class, order):
    original, version = folders
    image = _image((7, 5, 3), ">u2")
    isets.dump_array(image, str(original / f"scene-u16be-3x5x7.{order}"), order=order)
    df = table_class(version_base_dir=str(version), original_base_dir=str(original)).get_df()
    assert len(df) == 1 and (df["width"] == 7).all()
    written = version / "scene-u16be-3x5x7.raw"
    assert (isets.load_array_bsq(str(written)) == image).all()
    assert sorted(os.listdir(version)) == ["scene-u16be-3x5x7.raw"]  # nothing else left


def test_quantized_version_divides_every_sample(folders):
    original, version = folders
    image = _image((9, 4, 2), "<i2", seed=1)
    isets.dump_array_bsq(image, str(original / "sub" / "s-s16le-2x4x9.raw"))
    df = isets.QuantizedImageVersion(version_base_dir=str(version), qstep=3,
                                     original_base_dir=str(original)).get_df()
    assert df["version_name"].tolist() == ["QuantizedImageVersion_qstep3"]
    assert (isets.load_array_bsq(str(version / "sub" / "s-s16le-2x4x9.raw")) ==
            image // 3).all()


def test_divisible_size_version_crops_and_renames(folders):
    original, version = folders
    image = _image((20, 13, 1), "u1", seed=2)
    isets.dump_array_bsq(image, str(original / "c-u8be-1x13x20.raw"))
    isets.DivisibleSizeVersion(version_base_dir=str(version), dimension_size_multiple=8,
                               original_base_dir=str(original)).get_df()
    assert os.listdir(version) == ["c-u8be-1x8x16.raw"]
    assert (isets.load_array_bsq(str(version / "c-u8be-1x8x16.raw")) == image[:16, :8]).all()


def test_reindexed_version_keeps_what_it_takes_to_undo_it(folders):
    original, version = folders
    image = np.array([[[1000], [-7]], [[1000], [55]]], dtype=">i2")
    isets.dump_array_bsq(image, str(original / "r-s16be-1x2x2.raw"))
    isets.ReindexedVersion(version_base_dir=str(version), width_bytes=1,
                           original_base_dir=str(original)).get_df()
    indices = isets.load_array_bsq(str(version / "r-u8be-1x2x2.raw"))
    assert indices[:, :, 0].tolist() == [[2, 0], [2, 1]]
    meta = json.loads((version / "r-u8be-1x2x2.raw.meta").read_text())
    assert meta == {"original_dtype": ">i2", "unique_values": [-7, 55, 1000]}
    assert (np.array(meta["unique_values"])[indices] == image).all()


@pytest.mark.parametrize("extension, components, dtype", [
    ("png", 1, "u1"), ("png", 3, "u1"), ("png", 1, "u2"), ("pgm", 1, ">u2"),
    ("ppm", 3, "u1"), ("ppm", 3, ">u2")])
def test_curation_tables_write_exact_raw_images_named_with_their_tags(folders, extension,
                                                                      components, dtype):
    from enb.compression.curation import PGMCurationTable, PNGCurationTable, PPMCurationTable
    original, version = folders
    image = _image((11, 6, components), dtype, seed=components)
    path = original / "set" / f"picture.{extension}"
    path.parent.mkdir(parents=True)
    if extension == "png":
        png.write_png(image.astype(np.uint8 if dtype == "u1" else np.uint16), str(path))
    else:
        netpbm.write_netpbm(image, str(path), maxval=255 if dtype == "u1" else 65535)
    table_class = {"png": PNGCurationTable, "pgm": PGMCurationTable,
                   "ppm": PPMCurationTable}[extension]
    table_class(original_base_dir=str(original), version_base_dir=str(version)).get_df()
    tag = "u8be" if np.dtype(dtype).itemsize == 1 else "u16be"
    written = version / "set" / f"picture-{tag}-{components}x6x11.raw"
    assert os.listdir(version / "set") == [written.name]
    assert (isets.load_array_bsq(str(written)) == image).all()


def test_the_1x_names_of_the_curation_tables():
    import enb
    from enb.compression import curation
    assert enb.png.PNGCurationTable is curation.PNGCurationTable is \
        enb.isets.PNGCurationTable
    assert enb.pgm.PGMCurationTable is curation.PGMCurationTable
    assert enb.jpg.JPEGCurationTable is curation.JPEGCurationTable
    assert enb.fits.FITSVersionTable is curation.FITSVersionTable is \
        enb.icompression.FITSVersionTable


def test_jpeg_curation_writes_the_decoded_samples(folders):
    from PIL import Image

    from enb.compression.curation import JPEGCurationTable
    original, version = folders
    original.mkdir()
    rgb = _image((16, 12, 3), "u1", seed=4)
    Image.fromarray(rgb.transpose(1, 0, 2)).save(original / "photo.jpg", quality=90)
    JPEGCurationTable(original_base_dir=str(original), version_base_dir=str(version)).get_df()
    decoded = np.asarray(Image.open(original / "photo.jpg")).transpose(1, 0, 2)
    assert (isets.load_array_bsq(str(version / "photo-u8be-3x12x16.raw")) == decoded).all()


def test_fits_version_table_writes_every_image_and_its_header(folders):
    from astropy.io import fits

    from enb.compression.curation import FITSVersionTable
    original, version = folders
    original.mkdir()
    counts = _image((3, 8, 10), "<i2", seed=5)      # FITS order: [z, y, x]
    flux = np.random.default_rng(6).normal(size=(6, 4)).astype(">f4")
    fits.HDUList([fits.PrimaryHDU(counts), fits.ImageHDU(flux)]).writeto(original / "sky.fits")
    FITSVersionTable(original_base_dir=str(original), version_base_dir=str(version)).get_df()
    first = version / "s16be" / "sky_img0-s16be-3x8x10.raw"
    second = version / "f32" / "sky_img1-f32-1x6x4.raw"
    assert (isets.load_array_bsq(str(first)) == counts.transpose(2, 1, 0)).all()
    assert (isets.load_array_bsq(str(second))[:, :, 0] == flux.T).all()
    header = version.parent / "version_headers" / "s16be" / "sky_img0-s16be-3x8x10-fits_header.txt"
    assert "NAXIS3  =                    3" in header.read_text()


def test_fits_wrapper_codec_round_trips_through_fits(tmp_path):
    from enb.compression.fits import FITSWrapperCodec

    class FitsCopy(FITSWrapperCodec):
        def __init__(self):
            super().__init__(compressor_path="cp", decompressor_path="cp")

        def get_compression_params(self, original_path, compressed_path, original_file_info):
            return [original_path, compressed_path]

        def get_decompression_params(self, compressed_path, reconstructed_path,
                                     original_file_info):
            return [compressed_path, reconstructed_path]

    image = _image((9, 7, 2), ">u2", seed=7)
    path = tmp_path / "img-u16be-2x7x9.raw"
    isets.dump_array_bsq(image, str(path))
    info = isets.file_path_to_geometry_dict(str(path))
    codec = FitsCopy()
    codec.compress(str(path), str(tmp_path / "c.fits"), info)
    assert (tmp_path / "c.fits").read_bytes()[:6] == b"SIMPLE"
    codec.decompress(str(tmp_path / "c.fits"), str(tmp_path / "r.raw"), info)
    assert (tmp_path / "r.raw").read_bytes() == path.read_bytes()


def test_pdf_pages_are_rendered_as_png(folders):
    from PIL import Image

    from enb.compression.curation import pdf_to_png
    original, version = folders
    (original / "figures").mkdir(parents=True)
    Image.new("RGB", (144, 72), (250, 10, 10)).save(original / "figures" / "plot.pdf",
                                                    resolution=72)
    pdf_to_png(str(original), str(version))
    rendered = Image.open(version / "figures" / "plot.png")
    assert rendered.size == (400, 200)  # 2 x 1 inches at 200 dpi
    # Pillow stores the page as a JPEG: the colour comes back within a few levels
    centre = np.asarray(rendered.convert("RGB"))[100, 200].astype(int)
    assert np.abs(centre - [250, 10, 10]).max() <= 3

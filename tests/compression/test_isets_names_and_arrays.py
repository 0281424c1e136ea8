"""Raw images: geometry and sample type from file names, and [x, y, z] arrays in and out."""
import io
import os

import numpy as np
import pytest

from enb import isets
from enb.isets import tags


@pytest.mark.parametrize("tag, expected", [
    ("u8be", (1, False, True, False)), ("s8be", (1, True, True, False)),
    ("u16be", (2, False, True, False)), ("u16le", (2, False, False, False)),
    ("s16le", (2, True, False, False)), ("u32be", (4, False, True, False)),
    ("s32le", (4, True, False, False)), ("f16", (2, True, False, True)),
    ("f32", (4, True, False, True)), ("f64", (8, True, False, True)),
])
def test_every_sample_type_tag_is_read_from_the_name(tmp_path, tag, expected):
    bytes_per_sample, signed, big_endian, is_float = expected
    path = tmp_path / f"forest_{tag}-3x5x7.raw"
    path.write_bytes(b"\0" * (3 * 5 * 7 * bytes_per_sample))
    row = isets.file_path_to_geometry_dict(str(path))
    assert (row["width"], row["height"], row["component_count"]) == (7, 5, 3)
    assert (row["bytes_per_sample"], row["signed"], row["big_endian"], row["float"]) == expected
    assert row["samples"] == 3 * 5 * 7


def test_tags_glued_to_letters_or_digits_do_not_count():
    assert tags.sample_type_from_name("stu8bear-1x2x3.raw") is None
    assert tags.sample_type_from_name("elf16-1x2x3.raw") is None
    assert tags.sample_type_from_name("a_u8be.raw").tag == "u8be"
    assert tags.geometry_from_name("scan2x3x4.raw") == (2, 3, 4)  # digits bound it, not letters
    assert tags.geometry_from_name("scan-12x3x45.raw") == (12, 3, 45)


def test_ambiguous_or_wrong_names_are_errors_that_name_the_file(tmp_path):
    with pytest.raises(isets.ImageGeometryError, match="more than one sample type"):
        tags.sample_type_from_name("img-u8be-s16be-1x1x1.raw")
    with pytest.raises(isets.ImageGeometryError, match="more than one geometry"):
        tags.geometry_from_name("img-1x2x3-4x5x6.raw")
    with pytest.raises(isets.ImageGeometryError, match="zero"):
        tags.geometry_from_name("img-0x2x3.raw")
    wrong_size = tmp_path / "short-u16be-1x2x2.raw"
    wrong_size.write_bytes(b"\0" * 7)
    with pytest.raises(isets.ImageGeometryError, match="short-u16be-1x2x2.raw: 7 bytes"):
        isets.file_path_to_geometry_dict(str(wrong_size))
    untyped = tmp_path / "untyped-1x2x2.raw"
    untyped.write_bytes(b"\0" * 4)
    with pytest.raises(isets.ImageGeometryError, match="no sample type tag"):
        isets.file_path_to_geometry_dict(str(untyped))
    assert isets.file_path_to_geometry_dict(str(tmp_path / "plain.bin")) == {}


def test_name_tags_are_built_back_from_properties():
    row = dict(width=800, height=600, component_count=3, big_endian=True, bytes_per_sample=2,
               signed=False, float=False)
    assert isets.iproperties_to_name_tag(800, 600, 3, True, 2, False) == "u16be-3x600x800"
    assert isets.iproperties_row_to_numpy_dtype(row) == ">u2"
    assert isets.iproperties_row_to_numpy_dtype(dict(row, bytes_per_sample=1)) == "u1"
    assert isets.iproperties_row_to_numpy_dtype(dict(row, float=True, bytes_per_sample=4)) \
        == "<f4"
    assert tags.with_sample_type("img-s16le-3x2x1.raw", tags.SampleType(1, False, True, False)) \
        == "img-u8be-3x2x1.raw"
    assert tags.with_sample_type("img-3x2x1.raw", tags.SampleType(2, False, True, False)) \
        == "img-u16be-3x2x1.raw"


def _numbered(width, height, components, dtype):
    """An [x, y, z] image whose sample (x, y, z) is 100 z + 10 y + x."""
    x, y, z = np.meshgrid(np.arange(width), np.arange(height), np.arange(components),
                          indexing="ij")
    return (100 * z + 10 * y + x).astype(dtype)


def test_each_order_writes_samples_where_the_order_says(tmp_path):
    image = _numbered(3, 2, 2, "u1")  # sample (x, y, z) = 100 z + 10 y + x
    expected = {
        # bsq: z, then y, then x (fastest)
        "bsq": [0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112],
        # bil: y, then z, then x
        "bil": [0, 1, 2, 100, 101, 102, 10, 11, 12, 110, 111, 112],
        # bip: y, then x, then z
        "bip": [0, 100, 1, 101, 2, 102, 10, 110, 11, 111, 12, 112],
    }
    for order, samples in expected.items():
        path = tmp_path / f"{order}.raw"
        isets.dump_array(image, str(path), order=order)
        assert list(path.read_bytes()) == samples, order
        loaded = isets.load_array(str(path), width=3, height=2, component_count=2, dtype="u1",
                                  order=order)
        assert loaded.shape == (3, 2, 2) and (loaded == image).all(), order


@pytest.mark.parametrize("dtype", [">u2", "<u2", ">i4", "<i4", "<f4", "<f8", "u1", "i1"])
def test_arrays_round_trip_through_files_named_by_their_type(tmp_path, dtype):
    image = _numbered(5, 4, 3, "i8")
    if np.dtype(dtype).kind == "i":
        image = image % 100 - 50  # negative samples too
    image = image.astype(dtype)
    sample_type = tags.SampleType(np.dtype(dtype).itemsize, np.dtype(dtype).kind != "u",
                                  dtype.startswith(">") or np.dtype(dtype).itemsize == 1
                                  and np.dtype(dtype).kind != "f",
                                  np.dtype(dtype).kind == "f")
    path = tmp_path / f"img-{sample_type.tag}-3x4x5.raw"
    isets.dump_array_bsq(image, str(path), dtype=dtype)
    assert path.stat().st_size == image.size * np.dtype(dtype).itemsize
    loaded = isets.load_array_bsq(str(path))  # geometry and type from the name
    assert loaded.dtype == np.dtype(dtype) and (loaded == image).all()


def test_open_files_and_in_memory_streams_are_read_and_written(tmp_path):
    image = _numbered(4, 3, 2, ">u2")
    stream = io.BytesIO()
    isets.dump_array_bsq(image, stream)
    stream.seek(0)
    assert (isets.load_array_bsq(stream, width=4, height=3, component_count=2, dtype=">u2")
            == image).all()
    path = tmp_path / "two-u16be-2x3x4.raw"
    with open(path, "wb") as handle:
        isets.dump_array_bsq(image, handle)
        isets.dump_array_bsq(image, handle)  # appended at the file's position
    assert path.stat().st_size == 2 * image.size * 2
    with open(path, "rb") as handle:  # one image at a time, from the file's position
        for _ in range(2):
            assert (isets.load_array_bsq(handle, width=4, height=3, component_count=2,
                                         dtype=">u2") == image).all()


def test_a_file_of_the_wrong_size_is_refused_with_its_name(tmp_path):
    path = tmp_path / "img-u8be-1x2x2.raw"
    path.write_bytes(b"\0" * 5)
    with pytest.raises(isets.ImageGeometryError, match="img-u8be-1x2x2.raw: holds 5 samples"):
        isets.load_array_bsq(str(path))
    with pytest.raises(isets.ImageGeometryError, match="cannot tell the image's width"):
        isets.load_array_bsq(str(tmp_path / "img-u8be-1x2x2.raw"), image_properties_row={})
    with pytest.raises(ValueError, match="invalid sample order"):
        isets.load_array(str(path), order="xyz")


def test_two_dimensional_arrays_are_written_as_one_component(tmp_path):
    plane = np.arange(6, dtype="u1").reshape(3, 2)  # [x, y]
    path = tmp_path / "plane-u8be-1x2x3.raw"
    isets.dump_array_bsq(plane, str(path))
    assert list(path.read_bytes()) == [0, 2, 4, 1, 3, 5]
    assert isets.load_array_bsq(str(path)).shape == (3, 2, 1)
    nested = tmp_path / "new" / "folder" / "plane-u8be-1x2x3.raw"
    isets.dump_array_bsq(plane, str(nested))
    assert os.path.getsize(nested) == 6

"""PGM/PPM/PAM and PNG files: written and read back exactly, headers as the formats say."""
import struct
import zlib

import numpy as np
import pytest

from enb.compression import netpbm, pgm, png


def test_pgm_header_and_big_endian_samples(tmp_path):
    image = np.array([[0, 65535], [256, 1]], dtype="u2")  # [x, y]
    path = tmp_path / "a.pgm"
    pgm.write_pgm(image, 2, str(path))
    data = path.read_bytes()
    header = b"P5\n2 2\n65535\n"
    assert data.startswith(header)
    # raster order (y, then x), 16 bits big-endian
    assert data[len(header):] == struct.pack(">4H", 0, 256, 65535, 1)
    assert (pgm.read_pgm(str(path)) == image).all()


def test_headers_with_comments_and_odd_spacing_are_read(tmp_path):
    path = tmp_path / "c.ppm"
    path.write_bytes(b"P6 # made by hand\n# another comment\n 2\t1\n255\n" + bytes(range(6)))
    image = pgm.read_ppm(str(path))
    assert image.shape == (2, 1, 3) and image[1, 0].tolist() == [3, 4, 5]
    with pytest.raises(netpbm.NetpbmError, match="truncated"):
        (tmp_path / "t.pgm").write_bytes(b"P5\n4 4\n255\n" + bytes(3))
        pgm.read_pgm(str(tmp_path / "t.pgm"))
    (tmp_path / "g.pgm").write_bytes(b"P5\n1 1\n255\n\x07")
    with pytest.raises(netpbm.NetpbmError, match="not a PPM"):
        pgm.read_ppm(str(tmp_path / "g.pgm"))
    (tmp_path / "x.png").write_bytes(b"\x89PNG...")
    with pytest.raises(netpbm.NetpbmError, match="not a binary PGM, PPM or PAM"):
        pgm.read_pgm(str(tmp_path / "x.png"))


@pytest.mark.parametrize("components", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", ["u1", ">u2"])
def test_netpbm_round_trips_every_component_count(tmp_path, components, dtype):
    rng = np.random.default_rng(components)
    image = rng.integers(0, 256 if dtype == "u1" else 65536, (7, 5, components)).astype(dtype)
    path = tmp_path / "image.pam"
    netpbm.write_netpbm(image, str(path), maxval=255 if dtype == "u1" else 65535)
    loaded, maxval = netpbm.read_netpbm(str(path))
    assert maxval == (255 if dtype == "u1" else 65535)
    assert loaded.shape == image.shape and (loaded == image).all()


def _decode_unfiltered_png(data: bytes):
    """Decode a PNG whose rows all use filter 0 (what the direct writer makes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == struct.unpack(
            ">I", data[position + 8 + length:position + 12 + length])[0]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, colour, *_ = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    rows = np.frombuffer(zlib.decompress(idat), dtype="u1").reshape(height, -1)
    assert (rows[:, 0] == 0).all()
    return depth, rows[:, 1:].copy().view(">u2").reshape(height, width, channels)


def test_sixteen_bit_colour_png_is_written_exactly_and_refused_on_reading(tmp_path):
    rng = np.random.default_rng(5)
    image = rng.integers(0, 65536, (6, 4, 3)).astype("u2")
    path = tmp_path / "deep.png"
    png.write_png(image, str(path))
    depth, rows = _decode_unfiltered_png(path.read_bytes())
    assert depth == 16 and (rows.transpose(1, 0, 2) == image).all()
    with pytest.raises(ValueError, match="Pillow#1888"):
        png.read_png(str(path))


@pytest.mark.parametrize("shape, dtype", [((9, 7, 1), "u1"), ((9, 7, 3), "u1"),
                                          ((9, 7, 4), "u1"), ((9, 7, 1), "u2"),
                                          ((9, 7, 2), "u1")])
def test_png_round_trips_what_pillow_holds(tmp_path, shape, dtype):
    rng = np.random.default_rng(6)
    image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    path = tmp_path / "image.png"
    png.write_png(image, str(path))
    loaded = png.read_png(str(path))
    assert loaded.dtype == np.dtype(dtype) and (loaded == image).all()


def test_png_to_raw_names_the_output_with_its_tags(tmp_path):
    image = np.arange(12, dtype="u1").reshape(4, 3, 1) * 20
    png.write_png(image, str(tmp_path / "in.png"))
    written = png.png_to_raw(str(tmp_path / "in.png"), str(tmp_path / "out.raw"))
    assert written.endswith("out-u8be-1x3x4.raw")
    from enb import isets
    assert (isets.load_array_bsq(written) == image).all()
    png.raw_path_to_png(written, str(tmp_path / "again.png"))
    assert (png.read_png(str(tmp_path / "again.png")) == image).all()

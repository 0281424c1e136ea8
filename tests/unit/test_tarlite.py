"""enb.tarlite: several files in one, in enb 1.x's format, both ways."""
import os

import pytest

from enb import tarlite


def test_round_trip_keeps_bytes_and_repeated_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = [tmp_path / "a" / "x.bin", tmp_path / "b" / "x.bin", tmp_path / "empty.txt"]
    files[0].write_bytes(bytes(range(256)) * 5000)
    files[1].write_bytes(b"second\n")
    files[2].write_bytes(b"")
    archive = tmp_path / "all.tarlite"
    tarlite.tarlite_files(files, archive)
    written = tarlite.untarlite_files(archive, tmp_path / "out")
    assert [os.path.basename(p) for p in written] == ["x.bin", "(1)_x.bin", "empty.txt"]
    assert [open(p, "rb").read() for p in written] == [f.read_bytes() for f in files]


def test_the_format_is_enb_1x_byte_for_byte(tmp_path):
    (tmp_path / "one.txt").write_bytes(b"abc")
    (tmp_path / "two.raw").write_bytes(b"\x00\x01")
    writer = tarlite.TarliteWriter([tmp_path / "one.txt"])
    writer.add_file(tmp_path / "two.raw")
    writer.write(tmp_path / "t")
    assert (tmp_path / "t").read_bytes() == b"3,2\none.txt/two.raw\nabc\x00\x01"
    # a file as enb 1.x writes it, read back
    (tmp_path / "from1x").write_bytes(b"1,0,4\na/ b /c\nZ\x00\x00\x00\x00")
    paths = tarlite.TarliteReader(tmp_path / "from1x").extract_all(tmp_path / "x")
    assert [os.path.basename(p) for p in paths] == ["a", "b", "c"]
    assert [open(p, "rb").read() for p in paths] == [b"Z", b"", b"\x00" * 4]


def test_bad_names_and_malformed_files_are_refused(tmp_path):
    with pytest.raises(tarlite.TarliteError, match="cannot store the name"):
        bad = tmp_path / "a,b"
        bad.write_text("x")
        tarlite.TarliteWriter([bad])
    (tmp_path / "bogus").write_bytes(b"not sizes\nx\n")
    with pytest.raises(tarlite.TarliteError, match=":1: not a tarlite file"):
        tarlite.TarliteReader(tmp_path / "bogus").extract_all(tmp_path / "o")
    (tmp_path / "escape").write_bytes(b"1\n..\nx")
    with pytest.raises(tarlite.TarliteError, match="refusing to extract"):
        tarlite.TarliteReader(tmp_path / "escape").extract_all(tmp_path / "o")
    (tmp_path / "short").write_bytes(b"10\nf\nabc")
    with pytest.raises(tarlite.TarliteError, match="truncated"):
        tarlite.TarliteReader(tmp_path / "short").extract_all(tmp_path / "o")
    tarlite.TarliteWriter([]).write(tmp_path / "none")
    assert tarlite.TarliteReader(tmp_path / "none").extract_all(tmp_path / "o2") == []

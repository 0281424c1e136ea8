"""Image property tables: every column checked against numpy on generated images."""
import math

import numpy as np
import pytest

import enb
from enb import isets


def _entropy(values) -> float:
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(7)
    made = {}
    for name, dtype, shape, low, high in [
            ("gray-u8be-1x16x20.raw", "u1", (20, 16, 1), 0, 200),
            ("rgb-u16be-3x8x10.raw", ">u2", (10, 8, 3), 0, 3000),
            ("signed-s16le-2x6x4.raw", "<i2", (4, 6, 2), -500, 500),
            ("float-f32-1x4x4.raw", "<f4", (4, 4, 1), -1, 1)]:
        if np.dtype(dtype).kind == "f":
            array = rng.uniform(low, high, shape).astype(dtype)
        else:
            array = rng.integers(low, high, shape).astype(dtype)
        path = tmp_path / "datasets" / name
        isets.dump_array_bsq(array, str(path))
        made[str(path)] = array
    return made


def test_image_properties_match_numpy(images, tmp_path):
    table = isets.ImagePropertiesTable(csv_support_path=str(tmp_path / "properties.csv"))
    df = table.get_df(target_indices=list(images)).set_index("file_path")
    for path, array in images.items():
        row = df.loc[enb.atable.get_canonical_path(path)]
        width, height, components = array.shape
        assert (row["width"], row["height"], row["component_count"]) == (width, height,
                                                                          components)
        assert row["samples"] == array.size
        assert row["bytes_per_sample"] == array.dtype.itemsize
        assert row["float"] == (array.dtype.kind == "f")
        assert row["signed"] == (array.dtype.kind != "u")
        assert row["unique_sample_count"] == np.unique(array).size
        assert row["sample_min"] == array.min() and row["sample_max"] == array.max()
        raw = open(path, "rb").read()
        assert row["entropy_1B_bps"] == pytest.approx(_entropy(np.frombuffer(raw, "u1")))
        if array.dtype.itemsize >= 2:
            assert row["entropy_2B_bps"] == pytest.approx(_entropy(np.frombuffer(raw, "u2")))
        else:
            assert row["entropy_2B_bps"] == -1
        if array.dtype.kind == "u":
            assert row["dynamic_range_bits"] == math.ceil(math.log2(int(array.max()) + 1))
        elif array.dtype.kind == "i":
            bits = row["dynamic_range_bits"]
            assert -(2 ** (bits - 1)) <= array.min() and array.max() <= 2 ** (bits - 1) - 1
            assert not (-(2 ** (bits - 2)) <= array.min() and array.max() <= 2 ** (bits - 2) - 1)
        else:
            assert row["dynamic_range_bits"] == 32


def test_a_raw_file_without_tags_fails_its_row_with_what_to_do(tmp_path):
    path = tmp_path / "datasets" / "untagged.raw"
    path.parent.mkdir()
    path.write_bytes(b"\0" * 10)
    with pytest.raises(enb.atable.ColumnFailedError) as failure:
        isets.ImageGeometryTable(csv_support_path=None).get_df(target_indices=[str(path)])
    assert "no sample type tag" in failure.value.exception_list[0].msg
    assert "untagged.raw" in failure.value.exception_list[0].msg


def test_distribution_band_entropy_and_histogram_fullness(images):
    paths = [p for p in images if "u8be" in p or "u16be" in p]
    distribution = isets.SampleDistributionTable(csv_support_path=None).get_df(
        target_indices=paths)
    bands = isets.BandEntropyTable(csv_support_path=None).get_df(target_indices=paths)
    fullness = isets.HistogramFullnessTable1Byte(csv_support_path=None).get_df(
        target_indices=paths)
    for path in paths:
        array = images[path]
        key = str((enb.atable.get_canonical_path(path),))
        values, counts = np.unique(array, return_counts=True)
        assert distribution.loc[key, "sample_distribution"] == {
            int(v): c / array.size for v, c in zip(values, counts)}
        assert bands.loc[key, "entropy_per_band"] == pytest.approx(
            {z: _entropy(array[:, :, z]) for z in range(array.shape[2])})
        raw = np.fromfile(path, dtype="u1")
        assert fullness.loc[key, "histogram_fullness_1byte"] == np.unique(raw).size / 256


def test_entropy_mutual_information_and_kl_divergence():
    x = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    assert isets.entropy(x) == pytest.approx(2.0)
    assert isets.mutual_information(x, x) == pytest.approx(2.0)
    assert isets.mutual_information(x, np.zeros(8, dtype=int)) == pytest.approx(0.0)
    assert isets.mutual_information(x, x % 2) == pytest.approx(1.0)
    p_q, q_p = isets.kl_divergence(np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1]))
    expected = 0.75 * math.log(0.75 / 0.25) + 0.25 * math.log(0.25 / 0.75)
    assert p_q == pytest.approx(expected) and q_p == pytest.approx(expected)

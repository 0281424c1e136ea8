"""Codec plugins installed with `enb plugin install`, run on real programs (installed by .ci).

The lossless experiment here runs as a user runs it: plugins installed into a project's
plugins/ folder by the enb command, a script that imports them, its results compared with
the programs run by hand.
"""
import filecmp
import importlib
import json
import lzma
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from enb import isets
from enb.compression.scratch import RowFolder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENB = os.path.join(os.path.dirname(sys.executable), "enb")
PLUGINS = ("zip", "lz4", "zstd", "xz", "bzip2", "brotli", "jpegxl", "webp", "jpeg2000",
           "fpack")
CORPUS = [("mono/gray-u8be-1x48x64.raw", "u1", (64, 48, 1)),
          ("color/rgb-u8be-3x32x40.raw", "u1", (40, 32, 3)),
          ("deep/deep-u16be-1x24x36.raw", ">u2", (36, 24, 1)),
          ("deep/planes-u16le-3x20x28.raw", "<u2", (28, 20, 3)),
          ("signed/signed-s16be-2x16x16.raw", ">i2", (16, 16, 2))]


def _write_corpus(folder):
    rng = np.random.default_rng(21)
    for name, dtype, shape in CORPUS:
        x, y, z = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
        image = 5 * x + 3 * y + 40 * z + rng.integers(0, 6, shape)
        if np.dtype(dtype).kind == "i":
            image = image - 200
        limits = np.iinfo(dtype)
        image = np.clip(image, limits.min, limits.max)  # smooth: no wrap-around edges
        isets.dump_array_bsq(image.astype(dtype), os.path.join(folder, name))


def _install(project, *names):
    os.makedirs(os.path.join(project, "plugins"), exist_ok=True)
    with open(os.path.join(project, "plugins", "__init__.py"), "w") as init:
        init.write("")
    for name in names:
        result = subprocess.run([ENB, "plugin", "install", name,
                                 os.path.join(project, "plugins", name)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    """Every codec plugin, installed into a project folder by the enb command, imported."""
    project = str(tmp_path_factory.mktemp("plugins-project"))
    _install(project, *PLUGINS)
    sys.path.insert(0, project)
    try:
        yield {name: importlib.import_module(f"plugins.{name}") for name in PLUGINS}
    finally:
        sys.path.remove(project)
        for module in [m for m in sys.modules if m == "plugins" or m.startswith("plugins.")]:
            del sys.modules[module]


EXPERIMENT = textwrap.dedent("""\
    import json
    import enb
    import plugins.zip, plugins.zstd, plugins.xz

    codecs = [plugins.zip.LZMA(compression_level=5), plugins.zstd.Zstandard(19),
              plugins.xz.XZ(compression_level=6)]
    df = enb.icompression.LosslessCompressionExperiment(codecs=codecs).get_df()
    rows = df[["file_path", "task_name", "compressed_size_bytes",
               "lossless_reconstruction"]].to_dict(orient="records")
    with open("results.json", "w") as out:
        json.dump(rows, out)
    """)


def test_lossless_experiment_of_three_plugins_equals_the_programs_run_by_hand(tmp_path):
    project = str(tmp_path)
    _install(project, "zip", "zstd", "xz")
    _write_corpus(os.path.join(project, "datasets"))
    with open(os.path.join(project, "experiment.py"), "w") as script:
        script.write(EXPERIMENT)
    env = {k: v for k, v in os.environ.items() if k != "ENB_IGNORE_ARGV"}
    env["PYTHONPATH"] = REPO
    result = subprocess.run([sys.executable, "experiment.py", "--base_tmp_dir",
                             str(tmp_path / "scratch")], cwd=project, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads((tmp_path / "results.json").read_text())
    assert len(rows) == 3 * len(CORPUS) and all(r["lossless_reconstruction"] for r in rows)
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    for row in rows:
        original = os.path.join(project, row["file_path"])
        if row["task_name"] == "LZMA__compression_level=5":
            expected = len(lzma.compress(open(original, "rb").read(), preset=5))
        elif row["task_name"] == "Zstandard__compression_level=19":
            subprocess.run(["zstd", "-19", "-q", "-f", original, "-o", str(by_hand / "z")],
                           check=True)
            expected = os.path.getsize(by_hand / "z")
        else:
            assert row["task_name"] == "XZ__compression_level=6"
            with open(by_hand / "x", "wb") as out:
                subprocess.run(["xz", "-6", "-c", original], stdout=out, check=True)
            expected = os.path.getsize(by_hand / "x")
        assert row["compressed_size_bytes"] == expected, row
    assert os.listdir(tmp_path / "scratch") == []


def _codecs(plugins):
    return [plugins["zip"].LZ77Huffman(), plugins["zip"].LZMA(), plugins["zip"].BZIP2(),
            plugins["lz4"].Lz4(), plugins["zstd"].Zstandard(3), plugins["xz"].XZ(),
            plugins["bzip2"].Bzip2(), plugins["brotli"].Brotli(9),
            plugins["jpegxl"].JPEG_XL(), plugins["webp"].LosslessWebP(),
            plugins["jpeg2000"].JPEG2000(), plugins["fpack"].FPACK_RICE(),
            plugins["fpack"].FPACK_GZIP(), plugins["fpack"].FPACK_HCOMPRESS(),
            plugins["jpegxl"].JPEG_XL(quality_0_to_100=80, lossless=False),
            plugins["webp"].WebP(quality=60), plugins["jpeg2000"].JPEG2000(compression_ratio=8)]


#: What each image codec accepts (the byte codecs take every file).
def _accepts(codec, info) -> bool:
    name = type(codec).__name__
    unsigned = not info["signed"]
    if name == "JPEG_XL":
        return unsigned and info["bytes_per_sample"] <= 2
    if name in ("WebP", "LosslessWebP"):
        return unsigned and info["bytes_per_sample"] == 1
    return True


def test_every_plugin_codec_on_every_image_type(plugins, tmp_path):
    _write_corpus(str(tmp_path))
    for name, _, _ in CORPUS:
        path = str(tmp_path / name)
        info = isets.file_path_to_geometry_dict(path)
        info["dtype"] = isets.iproperties_row_to_numpy_dtype(info)
        for codec in _codecs(plugins):
            folder = RowFolder()
            try:
                compressed = os.path.join(folder.path, "compressed")
                reconstructed = os.path.join(folder.path, "reconstructed_" +
                                             os.path.basename(name))
                if not _accepts(codec, info):
                    with pytest.raises(ValueError, match="only"):
                        codec.compress(path, compressed, info)
                    continue
                codec.compress(path, compressed, info)
                codec.decompress(compressed, reconstructed, info)
                assert 0 < os.path.getsize(compressed)
                lossless = filecmp.cmp(path, reconstructed, shallow=False)
                if codec.param_dict.get("lossless", True) and "quality" not in codec.param_dict \
                        and "compression_ratio" not in codec.param_dict:
                    assert lossless, (codec.name, name)
                else:
                    assert not lossless and os.path.getsize(compressed) < os.path.getsize(path)
                    original = isets.load_array_bsq(path, info).astype(float)
                    back = isets.load_array_bsq(reconstructed, info).astype(float)
                    peak = 2 ** (8 * info["bytes_per_sample"]) - 1
                    mse = np.mean((original - back) ** 2)
                    assert 10 * np.log10(peak ** 2 / mse) > 25, (codec.name, name)  # PSNR
            finally:
                folder.close()


def test_a_plugin_whose_program_is_missing_says_which_package_to_install(plugins):
    probe = textwrap.dedent("""\
        import sys
        sys.path.insert(0, sys.argv[1])
        import plugins.{name} as plugin
        try:
            plugin.{cls}()
        except FileNotFoundError as ex:
            print(ex)
        """)
    project = os.path.dirname(os.path.dirname(os.path.dirname(plugins["zstd"].__file__)))
    for name, cls, package in (("zstd", "Zstandard", "zstd"), ("xz", "XZ", "xz-utils"),
                               ("jpegxl", "JPEG_XL", "libjxl-tools"), ("webp", "WebP", "webp"),
                               ("jpeg2000", "JPEG2000", "libopenjp2-tools"),
                               ("fpack", "FPACK_RICE", "libcfitsio-bin")):
        result = subprocess.run(
            [sys.executable, "-c", probe.format(name=name, cls=cls), project],
            env={"PATH": "/nonexistent", "PYTHONPATH": REPO}, capture_output=True, text=True,
            timeout=60)
        assert f"apt-get install {package}" in result.stdout, result.stdout + result.stderr

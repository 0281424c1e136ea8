"""The compression templates, installed with `enb plugin install` and run as a user runs them."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from enb import isets
from enb.compression import netpbm, png

REPO = Path(__file__).resolve().parents[2]
ENB = os.path.join(os.path.dirname(sys.executable), "enb")


def _enb(*args, cwd):
    done = subprocess.run([ENB, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _run(script, *args, cwd, expect=0):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENB_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, script, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == expect, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _figures(folder: Path) -> list:
    found = sorted(folder.rglob("*.png"))
    for path in found:  # real images, not empty files
        with Image.open(path) as image:
            assert image.size[0] > 100 and image.size[1] > 100, path
    return found


def test_lossless_template_says_what_to_install_then_runs_every_plugin(tmp_path):
    _enb("plugin", "install", "lossless-compression", "project", cwd=tmp_path)
    project = tmp_path / "project"
    empty = _run("lossless_compression_experiment.py", cwd=project, expect=1)
    assert "enb plugin install zip plugins/zip" in empty.stderr
    for plugin in ("zip", "zstd"):
        _enb("plugin", "install", plugin, f"plugins/{plugin}", cwd=project)
    done = _run("lossless_compression_experiment.py", cwd=project)
    assert "Experiment complete: 4 rows" in done.stdout  # LZ77Huffman, LZMA, BZIP2, Zstandard
    with open(project / "persistence" / "persistence_LosslessExperiment.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and all(r["lossless_reconstruction"] == "True" for r in rows)
    figures = _figures(project / "plots")
    assert any("bpppc-histogram-groupby__task_label" in f.name for f in figures)
    assert any(f.name.startswith("TwoNumericAnalyzer") for f in figures)


def test_lossy_template_builds_families_from_the_installed_plugins(tmp_path):
    _enb("plugin", "install", "lossy-compression", "project", cwd=tmp_path)
    project = tmp_path / "project"
    for plugin in ("zip", "jpeg2000"):
        _enb("plugin", "install", plugin, f"plugins/{plugin}", cwd=project)
    done = _run("lossy_compression_experiment.py", cwd=project)
    assert "Experiment complete: 16 rows" in done.stdout  # 2 images x (4 + 4) settings
    with open(project / "persistence" / "persistence_LossyExperiment.csv") as handle:
        rows = list(csv.DictReader(handle))
    families = {r["family_label"] for r in rows}
    assert families == {"Uniform quantization + LZMA", "JPEG 2000"}
    for row in rows:
        assert float(row["psnr_dr"]) > 20 and float(row["bpppc"]) < 8
        if row["family_label"].startswith("Uniform"):
            qstep = int(row["task_name"].rsplit("=", 1)[1])
            assert int(row["pae"]) <= qstep // 2
    assert any("psnr_dr" in f.name and "line" in f.name for f in _figures(project / "plots"))


def test_png_and_ppm_converters(tmp_path):
    _enb("plugin", "install", "png-to-raw", "tools", cwd=tmp_path)
    _enb("plugin", "install", "ppm-to-raw", "tools", cwd=tmp_path)
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 65536, (9, 5, 1)).astype(np.uint16)
    colour = rng.integers(0, 256, (6, 4, 3)).astype(np.uint8)
    png.write_png(grey, str(tmp_path / "pngs" / "a" / "grey.png"))
    netpbm.write_netpbm(colour, str(tmp_path / "ppms" / "colour.ppm"))
    _run("tools/png_to_raw.py", "pngs", "raw-png", cwd=tmp_path)
    _run("tools/ppm_to_raw.py", "ppms", "raw-ppm", cwd=tmp_path)
    assert (isets.load_array_bsq(str(tmp_path / "raw-png" / "a" / "grey-u16be-1x5x9.raw"))
            == grey).all()
    assert (isets.load_array_bsq(str(tmp_path / "raw-ppm" / "colour-u8be-3x4x6.raw"))
            == colour).all()
    refused = _run("tools/png_to_raw.py", "pngs", "raw-png", cwd=tmp_path, expect=1)
    assert "exists" in refused.stderr


def test_test_codecs_template_reports_which_codecs_are_lossless(tmp_path):
    _enb("plugin", "install", "test-codecs", "tc", cwd=tmp_path)
    done = _run("test_all_codecs.py", "zstandard", "webp", cwd=tmp_path / "tc")
    assert sorted(p.name for p in (tmp_path / "tc" / "plugins").iterdir()
                  if p.is_dir()) == ["brotli", "bzip2", "fpack", "jpeg2000", "jpegxl", "lz4",
                                     "webp", "xz", "zip", "zstd"]
    with open(tmp_path / "tc" / "codec_availability.csv") as handle:
        table = {row["task_label"]: row for row in csv.DictReader(handle)}
    assert set(table) == {"Zstandard 19", "WebP lossless", "WebP q=75"}
    image_types = [column for column in table["Zstandard 19"] if column != "task_label"]
    assert len(image_types) == 30
    assert all(table["Zstandard 19"][t] == "lossless" for t in image_types)
    assert table["WebP lossless"]["u8be x3"] == "lossless"
    assert table["WebP q=75"]["u8be x3"] == "lossy"
    assert table["WebP lossless"]["u16be x1"] == "fails"
    assert "Zstandard 19: lossless on 30 image types" in done.stdout
    [figure] = _figures(tmp_path / "tc" / "plots")
    assert figure.name == "codec_availability.png"

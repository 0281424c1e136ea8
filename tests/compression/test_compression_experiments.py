"""Compression experiments with in-process codecs: columns, failures, temporary files."""
import hashlib
import math
import os
import zlib

import numpy as np
import pytest

import enb
from enb import isets
from enb.compression import (CompressionExperiment, GeneralLosslessExperiment,
                             LosslessCompressionExperiment)
from enb.compression.codec import PassthroughCodec
from enb.compression.icompression import LossyCompressionExperiment
from enb.compression.wrapper import QuantizationWrapperCodec
from tests.compression.codecs_for_tests import Crashes, Lies, WritesNothing, Zlib

GEOMETRIES = [("gray-u8be-1x32x40.raw", "u1", (40, 32, 1)),
              ("rgb-u8be-3x16x24.raw", "u1", (24, 16, 3)),
              ("deep-u16be-2x20x12.raw", ">u2", (12, 20, 2))]


@pytest.fixture
def project(tmp_path, fresh_options):
    """A project with a corpus of smooth images of several geometries; options point at it."""
    rng = np.random.default_rng(11)
    for name, dtype, shape in GEOMETRIES:
        x, y, z = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
        peak = 255 if dtype == "u1" else 4095
        image = np.clip(3 * x + 2 * y + 40 * z + rng.integers(0, 4, shape), 0, peak)
        isets.dump_array_bsq(image.astype(dtype), str(tmp_path / "datasets" / name))
    fresh_options.project_root = str(tmp_path)
    fresh_options.base_dataset_dir = str(tmp_path / "datasets")
    fresh_options.persistence_dir = str(tmp_path / "persistence")
    fresh_options.base_tmp_dir = str(tmp_path / "scratch")
    return tmp_path


def _files(project):
    return sorted(str(project / "datasets" / name) for name, _, _ in GEOMETRIES)


def test_lossless_experiment_columns_match_the_codec_run_by_hand(project):
    df = LosslessCompressionExperiment(codecs=[Zlib(6), PassthroughCodec()]).get_df()
    assert len(df) == 2 * len(GEOMETRIES) and df["lossless_reconstruction"].all()
    for _, row in df.iterrows():
        path = os.path.join(str(project), row["file_path"])
        data = open(path, "rb").read()
        info = isets.file_path_to_geometry_dict(path)
        expected = zlib.compress(data, 6) if row["task_name"].startswith("Zlib") else data
        assert row["compressed_size_bytes"] == len(expected)
        assert row["compressed_file_sha256"] == hashlib.sha256(expected).hexdigest()
        assert row["compression_ratio"] == len(data) / len(expected)
        assert row["bpppc"] == 8 * len(expected) / info["samples"]
        assert row["compression_ratio_dr"] == pytest.approx(
            row["dynamic_range_bits"] * info["samples"] / (8 * len(expected)))
        assert row["compression_efficiency_1byte_entropy"] == pytest.approx(
            row["entropy_1B_bps"] * len(data) / (8 * len(expected)))
        assert row["compression_time_seconds"] > 0 and row["decompression_time_seconds"] > 0
        assert row["repetitions"] == 1
    assert os.listdir(project / "scratch") == []  # every row's folder went with the row


def test_a_crashing_codec_and_a_lying_codec_fail_their_rows_alone(project):
    experiment = LosslessCompressionExperiment(codecs=[Zlib(1), Crashes(), Lies()])
    with pytest.raises(enb.atable.ColumnFailedError) as failed:
        experiment.get_df()
    failures = failed.value.exception_list
    assert len(failures) == 2 * len(GEOMETRIES)
    crashes = [f for f in failures if f.index[1] == "Crashes"]
    lies = [f for f in failures if f.index[1] == "Lies"]
    assert len(crashes) == len(lies) == len(GEOMETRIES)
    for failure in crashes:
        assert "deliberate crash in the codec on " + os.path.basename(failure.index[0]) \
            in failure.msg
    for failure in lies:
        assert "Lies did not reconstruct" in failure.msg and "losslessly" in failure.msg
    saved = experiment.load_saved_df()
    zlib_rows = saved[saved["task_name"] == "Zlib__level=1"]
    assert len(zlib_rows) == len(GEOMETRIES) and zlib_rows["lossless_reconstruction"].all()
    assert os.listdir(project / "scratch") == []  # also removed when the codec failed


def test_a_codec_that_writes_nothing_fails_with_that_said(project):
    with pytest.raises(enb.atable.ColumnFailedError) as failed:
        CompressionExperiment(codecs=[WritesNothing()]).get_df()
    assert all("WritesNothing wrote no compressed file" in f.msg
               for f in failed.value.exception_list)


def test_reconstructed_and_compressed_copies_are_kept_when_asked(project, fresh_options):
    fresh_options.reconstructed_dir = str(project / "reconstructed")
    fresh_options.compressed_copy_dir = str(project / "compressed")
    codec = Zlib(9)
    LosslessCompressionExperiment(codecs=[codec]).get_df()
    for name, _, _ in GEOMETRIES:
        original = (project / "datasets" / name).read_bytes()
        assert (project / "reconstructed" / codec.name / name).read_bytes() == original
        assert (project / "compressed" / codec.name / f"{name}.compressed").read_bytes() == \
            zlib.compress(original, 9)
    assert os.listdir(project / "scratch") == []


def test_repetitions_keep_the_fastest_time(project, fresh_options):
    fresh_options.repetitions = 3
    df = CompressionExperiment(codecs=[Zlib(9)]).get_df()
    assert (df["repetitions"] == 3).all() and df["lossless_reconstruction"].all()


def test_lossy_quantization_psnr_and_mse_equal_a_direct_computation(project):
    qstep = 6
    codec = QuantizationWrapperCodec(codec=PassthroughCodec(), qstep=qstep)
    df = LossyCompressionExperiment(codecs=[codec]).get_df()
    assert len(df) == len(GEOMETRIES)
    for _, row in df.iterrows():
        path = os.path.join(str(project), row["file_path"])
        info = isets.file_path_to_geometry_dict(path)
        dtype = isets.iproperties_row_to_numpy_dtype(info)
        original = np.fromfile(path, dtype=dtype).astype(np.int64)
        peak = 2 ** (8 * info["bytes_per_sample"]) - 1
        reconstructed = np.minimum((original // qstep) * qstep + qstep // 2, peak)
        mse = np.mean((original - reconstructed) ** 2.0)
        assert row["mse"] == pytest.approx(mse, rel=1e-12)
        assert row["pae"] == np.max(np.abs(original - reconstructed))
        assert row["pae"] <= qstep // 2
        assert row["psnr_bps"] == pytest.approx(10 * math.log10(peak ** 2 / mse), rel=1e-12)
        dynamic_range = int(original.max()).bit_length()
        assert row["psnr_dr"] == pytest.approx(
            10 * math.log10((2 ** dynamic_range - 1) ** 2 / mse), rel=1e-12)
        assert not row["lossless_reconstruction"]


def test_general_lossless_experiment_takes_any_file(project, fresh_options):
    other = project / "other"
    other.mkdir()
    (other / "notes.txt").write_bytes(b"plain text " * 50)
    (other / "blob.bin").write_bytes(bytes(range(256)) * 3)
    fresh_options.base_dataset_dir = str(other)
    df = GeneralLosslessExperiment(codecs=[Zlib(6)]).get_df()
    assert sorted(os.path.basename(p) for p in df["file_path"]) == ["blob.bin", "notes.txt"]
    assert df["lossless_reconstruction"].all()
    assert (df["width"] == df["size_bytes"]).all() and (df["bytes_per_sample"] == 1).all()


def test_an_experiment_needs_codecs():
    with pytest.raises(ValueError, match="no codecs"):
        CompressionExperiment(codecs=[])


def test_structural_similarity_columns_equal_the_metric_on_the_images(project):
    from enb.compression import metrics
    from enb.compression.icompression import StructuralSimilarity

    class Similarity(StructuralSimilarity):
        pass

    codec = QuantizationWrapperCodec(codec=PassthroughCodec(), qstep=16)
    df = Similarity(codecs=[codec, PassthroughCodec()]).get_df()
    for _, row in df.iterrows():
        path = os.path.join(str(project), row["file_path"])
        original = isets.load_array_bsq(path)
        if row["task_name"] == "PassthroughCodec":
            assert row["ssim"] == pytest.approx(1.0) and row["ms_ssim"] == pytest.approx(1.0)
            continue
        peak = 2 ** (8 * original.dtype.itemsize) - 1
        reconstructed = np.minimum((original.astype(np.int64) // 16) * 16 + 8, peak)
        assert row["ssim"] == pytest.approx(metrics.ssim(original, reconstructed, max_val=peak))
        assert row["ms_ssim"] == pytest.approx(
            metrics.ms_ssim(original, reconstructed, max_val=peak))
        assert 0 < row["ssim"] < 1


def test_java_wrapper_says_to_install_java_when_it_is_missing(monkeypatch):
    import shutil

    from enb.compression.wrapper import CodecProgramNotFound, JavaWrapperCodec
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name, *a, **k: None if name == "java" else real_which(name))
    with pytest.raises(CodecProgramNotFound, match="apt-get install default-jre-headless"):
        JavaWrapperCodec(compressor_jar="c.jar", decompressor_jar="d.jar")


def test_tarlite_is_the_same_module_under_its_1x_names():
    import enb.compression.tarlite
    import enb.tarlite
    assert enb.compression.tarlite is enb.tarlite
    assert enb.compression.wrapper.ReindexWrapper is enb.icompression.ReindexWrapper


def test_row_folders_of_killed_processes_are_removed_and_live_ones_kept(tmp_path, fresh_options):
    import signal
    import subprocess
    import sys

    from enb.compression import scratch
    fresh_options.base_tmp_dir = str(tmp_path / "scratch")
    holder = ("import sys, time; sys.path.insert(0, sys.argv[1]);"
              "from enb.config import options; options.base_tmp_dir = sys.argv[2];"
              "from enb.compression.scratch import RowFolder;"
              "folder = RowFolder(); open(folder.path + '/big', 'wb').write(b'x' * 1000);"
              "print(folder.path, flush=True); time.sleep(60)")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    killed = subprocess.Popen([sys.executable, "-c", holder, repo, str(tmp_path / "scratch")],
                              stdout=subprocess.PIPE, text=True)
    alive = subprocess.Popen([sys.executable, "-c", holder, repo, str(tmp_path / "scratch")],
                             stdout=subprocess.PIPE, text=True)
    try:
        killed_folder = killed.stdout.readline().strip()
        alive_folder = alive.stdout.readline().strip()
        killed.send_signal(signal.SIGKILL)  # as row_timeout or the OOM killer would
        killed.wait(10)
        assert os.path.isdir(killed_folder)
        assert scratch.sweep_abandoned(str(tmp_path / "scratch")) == [killed_folder]
        assert not os.path.exists(killed_folder) and os.path.isdir(alive_folder)
    finally:
        for process in (killed, alive):
            if process.poll() is None:
                process.kill()
            process.wait(10)
    # the other process is gone now too: its folder goes at the next sweep
    assert scratch.sweep_abandoned(str(tmp_path / "scratch")) == [alive_folder]


def test_a_sweep_between_a_row_folders_lock_file_and_its_lock_keeps_the_folder(
        tmp_path, fresh_options, monkeypatch):
    # Another worker's first row sweeps while this one makes its folder: the sweep must not
    # take the lock file, made but not yet locked, for a dead process's (a row of the CI run
    # lost its compressed file so).
    from enb.compression import scratch
    fresh_options.base_tmp_dir = str(tmp_path / "scratch")
    os.makedirs(tmp_path / "scratch")
    scratch._swept.add(scratch.node_tmp_dir())  # this process's own first sweep is done
    real_flock, swept = scratch.fcntl.flock, []

    def flock_after_a_sweep(descriptor, operation):
        if operation == scratch.fcntl.LOCK_EX and not swept:
            swept.append(scratch.sweep_abandoned(str(tmp_path / "scratch")))
        return real_flock(descriptor, operation)

    monkeypatch.setattr(scratch.fcntl, "flock", flock_after_a_sweep)
    folder = scratch.RowFolder()
    path = folder.path
    try:
        assert swept == [[]] and os.path.isdir(path)
        assert os.listdir(path) == [scratch.LOCK_NAME]
        monkeypatch.setattr(scratch.fcntl, "flock", real_flock)
        assert scratch.sweep_abandoned(str(tmp_path / "scratch")) == []  # locked: alive
    finally:
        folder.close()
    assert os.listdir(tmp_path / "scratch") == []

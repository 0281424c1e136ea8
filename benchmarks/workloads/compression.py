"""Compression experiments: enb's own cost per row, and scaling of real codecs on 2 workers.

Phase ``overhead``: ``files`` small images (32x32, 8 bits), one codec that only copies
(``PassthroughCodec``), a ``LosslessCompressionExperiment`` on one worker. What a row costs
beyond the codec's own time is enb's: ``own_ms_per_row`` = (``get_df`` time - the codec times
the rows report) / rows. The dataset table is built before the clock starts (it is the
constructor's). Written with enb 1.x's public API only, so that enb 1.1.3 runs it too. The
ideal does each row's file work (two copies, a comparison, a sha256) in a plain loop.

Phase ``scaling``: ``files`` images of 128x128x3, three codecs (LZMA from Python's standard
library, zstd -19 and xz -6 as programs), ``cpu_limit`` 1 or 2 (ours only; the runner runs
both). The codecs are the plugins' own classes, installed from this checkout's enb. The ideal
runs the same compressions and decompressions without enb (lzma, and the programs called
directly) on a bare multiprocessing pool of 1 and then 2 processes: the speedup the machine
allows at that moment (other jobs take cores too).
"""
import hashlib
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options, workdir

PHASE = param("phase", "overhead")
FILES = int(param("files", 200))


def write_corpus(folder, count, shape, seed=0):
    """Write ``count`` smooth 8-bit images of ``shape`` ([x, y, z]) into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    for i in range(count):
        image = np.clip(x + 2 * y + 60 * z + rng.integers(0, 12, shape), 0, 255).astype("u1")
        name = f"img{i:04d}-u8be-{shape[2]}x{shape[1]}x{shape[0]}.raw"
        image.transpose(2, 1, 0).tofile(os.path.join(folder, name))


def run_overhead_enb():
    import enb
    set_enb_options(enb, 1)
    datasets = os.path.join(workdir(), "datasets")
    write_corpus(datasets, FILES, (32, 32, 1))
    enb.config.options.base_dataset_dir = datasets
    # Temporary files where enb puts them by default (/dev/shm), for ours and enb 1.1.3 alike.
    experiment = enb.icompression.LosslessCompressionExperiment(
        codecs=[enb.compression.codec.PassthroughCodec()])
    start = time.perf_counter()
    df = experiment.get_df()
    seconds = time.perf_counter() - start
    if len(df) != FILES or not df["lossless_reconstruction"].all():
        raise RuntimeError(f"{len(df)} rows, expected {FILES}, all lossless")
    codec_s = float(df["compression_time_seconds"].sum() + df["decompression_time_seconds"].sum())
    emit(phase=PHASE, rows=FILES, get_df_s=seconds, ms_per_row=1000 * seconds / FILES,
         codec_s=codec_s, own_ms_per_row=1000 * (seconds - codec_s) / FILES,
         peak_rss_mb=peak_rss_mb())


def run_overhead_ideal():
    """Each row's file work without enb: compress and decompress by copying, compare, hash."""
    datasets = os.path.join(workdir(), "datasets")
    write_corpus(datasets, FILES, (32, 32, 1))
    scratch = tempfile.mkdtemp(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    paths = sorted(os.path.join(datasets, name) for name in os.listdir(datasets))
    start = time.perf_counter()
    for path in paths:
        compressed = os.path.join(scratch, "c")
        reconstructed = os.path.join(scratch, "r")
        shutil.copyfile(path, compressed)
        shutil.copyfile(compressed, reconstructed)
        with open(path, "rb") as a, open(reconstructed, "rb") as b:
            if a.read() != b.read():
                raise RuntimeError(path)
        with open(compressed, "rb") as c:
            hashlib.sha256(c.read()).hexdigest()
        os.remove(compressed)
        os.remove(reconstructed)
    seconds = time.perf_counter() - start
    shutil.rmtree(scratch)
    emit(phase=PHASE, rows=FILES, get_df_s=seconds, ms_per_row=1000 * seconds / FILES,
         own_ms_per_row=1000 * seconds / FILES, peak_rss_mb=peak_rss_mb())


def run_scaling_enb():
    import subprocess

    import enb
    cpu_limit = int(param("cpu_limit", 1))
    set_enb_options(enb, cpu_limit)
    project = workdir()
    plugins = os.path.join(project, "plugins")
    for name in ("zip", "zstd", "xz"):
        if not os.path.isdir(os.path.join(plugins, name)):
            subprocess.run([sys.executable, "-m", "enb", "plugin", "install", name,
                            os.path.join(plugins, name)], check=True, capture_output=True)
    sys.path.insert(0, project)
    import plugins.xz
    import plugins.zip
    import plugins.zstd
    datasets = os.path.join(project, "datasets")
    if not os.path.isdir(datasets):
        write_corpus(datasets, FILES, (128, 128, 3))
    enb.config.options.base_dataset_dir = datasets
    codecs = [plugins.zip.LZMA(compression_level=6), plugins.zstd.Zstandard(19),
              plugins.xz.XZ(compression_level=6)]
    experiment = enb.icompression.LosslessCompressionExperiment(
        codecs=codecs, csv_experiment_path=os.path.join(project, f"scaling_{cpu_limit}.csv"),
        csv_dataset_path=os.path.join(project, f"scaling_dataset_{cpu_limit}.csv"))
    start = time.perf_counter()
    df = experiment.get_df()
    seconds = time.perf_counter() - start
    if len(df) != 3 * FILES or not df["lossless_reconstruction"].all():
        raise RuntimeError(f"{len(df)} rows, expected {3 * FILES}, all lossless")
    emit(phase=PHASE, rows=len(df), cpu_limit=cpu_limit, get_df_s=seconds,
         peak_rss_mb=peak_rss_mb())


def _one_codec_run(job):
    """Compress and decompress one file with one codec, without enb: LZMA in this process,
    zstd -19 and xz -6 as programs, then compare."""
    import lzma
    import subprocess
    codec, path, folder = job
    compressed = os.path.join(folder, f"c-{os.getpid()}")
    reconstructed = os.path.join(folder, f"r-{os.getpid()}")
    with open(path, "rb") as source:
        original = source.read()
    if codec == "lzma":
        with open(compressed, "wb") as out:
            out.write(lzma.compress(original, preset=6))
        with open(compressed, "rb") as packed, open(reconstructed, "wb") as out:
            out.write(lzma.decompress(packed.read()))
    elif codec == "zstd":
        subprocess.run(["zstd", "-19", "-q", "-f", path, "-o", compressed], check=True)
        subprocess.run(["zstd", "-d", "-q", "-f", compressed, "-o", reconstructed], check=True)
    else:
        with open(compressed, "wb") as out:
            subprocess.run(["xz", "-6", "-c", path], stdout=out, check=True)
        with open(reconstructed, "wb") as out:
            subprocess.run(["xz", "-d", "-c", compressed], stdout=out, check=True)
    with open(reconstructed, "rb") as back:
        same = back.read() == original
    os.remove(compressed)
    os.remove(reconstructed)
    return same


def run_scaling_ideal():
    """The same compressions and decompressions, without enb, on a bare multiprocessing pool
    of 1 process and then of 2: the speedup this machine allows at the moment."""
    import multiprocessing

    datasets = os.path.join(workdir(), "datasets")
    write_corpus(datasets, FILES, (128, 128, 3))
    folder = tempfile.mkdtemp(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    jobs = [(codec, os.path.join(datasets, name), folder)
            for name in sorted(os.listdir(datasets)) for codec in ("lzma", "zstd", "xz")]
    seconds = {}
    for workers in (1, 2):
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            start = time.perf_counter()
            if not all(pool.map(_one_codec_run, jobs, chunksize=1)):
                raise RuntimeError("a reconstruction differs")
            seconds[workers] = time.perf_counter() - start
    shutil.rmtree(folder)
    emit(phase=PHASE, rows=len(jobs), t1_s=seconds[1], t2_s=seconds[2],
         speedup=seconds[1] / seconds[2], peak_rss_mb=peak_rss_mb())


if __name__ == "__main__":
    if PHASE == "overhead":
        run_overhead_ideal() if IMPL == "ideal" else run_overhead_enb()
    elif PHASE == "scaling":
        run_scaling_ideal() if IMPL == "ideal" else run_scaling_enb()
    else:
        raise SystemExit(f"unknown phase {PHASE!r}")

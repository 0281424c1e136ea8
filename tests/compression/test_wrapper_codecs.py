"""Codecs that run programs: argument lists and 1.x strings, failures, times, byte order."""
import os
import subprocess

import numpy as np
import pytest

import enb
from enb import isets
from enb.compression import LosslessCompressionExperiment
from enb.compression.codec import LosslessCodec
from enb.compression.wrapper import (CodecProgramNotFound, LittleEndianWrapper,
                                     ProgramFailed, WrapperCodec, run_program)


class QuotedCopy(WrapperCodec, LosslessCodec):
    """An enb 1.x wrapper: parameters as a shell-style string with quoted paths."""

    def __init__(self):
        super().__init__(compressor_path="cp", decompressor_path="cp")

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return f"'{original_path}' '{compressed_path}'"

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return f"'{compressed_path}' '{reconstructed_path}'"


class Explodes(WrapperCodec, LosslessCodec):
    """A program that prints an error and exits with status 3."""

    def __init__(self):
        super().__init__(compressor_path="sh", decompressor_path="sh")

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return ["-c", "echo 'codec exploded on its input' >&2; exit 3"]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return ["-c", "exit 0"]


class ZstdInPackage(WrapperCodec, LosslessCodec):
    debian_package = "zstd"


class LittleEndianCopy(LittleEndianWrapper, LosslessCodec):
    """cp behind the little-endian conversion: its compressed file shows what cp was given."""

    def __init__(self):
        super().__init__(compressor_path="cp", decompressor_path="cp")

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return [original_path, compressed_path]

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return [compressed_path, reconstructed_path]


def test_a_file_name_is_never_run_as_a_command(tmp_path):
    original = tmp_path / "a b $(touch INJECTED) `touch INJECTED2`.raw"
    original.write_bytes(b"payload")
    codec = QuotedCopy()
    codec.compress(str(original), str(tmp_path / "compressed"))
    codec.decompress(str(tmp_path / "compressed"), str(tmp_path / "reconstructed"))
    assert (tmp_path / "reconstructed").read_bytes() == b"payload"
    assert not (tmp_path / "INJECTED").exists() and not os.path.exists("INJECTED")
    assert not os.path.exists("INJECTED2")


def test_program_output_goes_to_a_file_without_a_shell_parsing_names(tmp_path):
    target = tmp_path / "out; touch HACKED"
    status, output, seconds, memory_kb = run_program(["echo", "hello"], stdout_path=str(target))
    assert status == 0 and target.read_text() == "hello\n"
    assert not (tmp_path / "HACKED").exists() and not os.path.exists("HACKED")
    assert seconds >= 0 and memory_kb > 0
    with pytest.raises(ProgramFailed, match="exited with status 1"):
        run_program(["false"])


def test_a_failing_program_fails_its_row_with_its_output(tmp_path, fresh_options):
    image = tmp_path / "datasets" / "img-u8be-1x4x4.raw"
    isets.dump_array_bsq(np.arange(16, dtype="u1").reshape(4, 4), str(image))
    fresh_options.persistence_dir = str(tmp_path / "persistence")
    fresh_options.base_tmp_dir = str(tmp_path / "scratch")
    with pytest.raises(enb.atable.ColumnFailedError) as failed:
        LosslessCompressionExperiment(codecs=[Explodes(), QuotedCopy()],
                                      dataset_paths=[str(image)]).get_df()
    [failure] = failed.value.exception_list
    assert failure.index[1] == "Explodes"
    assert "exited with status 3" in failure.msg and "codec exploded on its input" in failure.msg
    assert os.listdir(tmp_path / "scratch") == []


def test_a_missing_program_names_the_package_to_install():
    with pytest.raises(CodecProgramNotFound, match="apt-get install zstd"):
        ZstdInPackage(compressor_path="/nonexistent/zstd", decompressor_path="zstd")


def test_times_memory_and_invocation_records(tmp_path, fresh_options):
    image = tmp_path / "datasets" / "img-u8be-1x8x8.raw"
    isets.dump_array_bsq(np.arange(64, dtype="u1").reshape(8, 8), str(image))
    fresh_options.persistence_dir = str(tmp_path / "persistence")
    codec = QuotedCopy()
    codec.output_invocation_dir = str(tmp_path / "invocations")
    df = LosslessCompressionExperiment(codecs=[codec], dataset_paths=[str(image)]).get_df()
    assert (df["compression_memory_kb"] > 0).all() and (df["decompression_memory_kb"] > 0).all()
    assert (df["compression_time_seconds"] >= 0).all()
    records = sorted(os.listdir(tmp_path / "invocations"))
    assert [r.split("_")[1] for r in records] == ["compression", "decompression"]
    text = (tmp_path / "invocations" / records[0]).read_text()
    assert "Invocation: " in text and "Status: 0" in text


def test_little_endian_wrapper_gives_the_program_little_endian_samples(tmp_path):
    image = np.array([[[1], [2]], [[256], [0x1234]]], dtype=">u2")  # [x, y, z]
    path = tmp_path / "img-u16be-1x2x2.raw"
    isets.dump_array_bsq(image, str(path))
    info = isets.file_path_to_geometry_dict(str(path))
    codec = LittleEndianCopy()
    codec.compress(str(path), str(tmp_path / "compressed"), info)
    assert (tmp_path / "compressed").read_bytes() == image.transpose(2, 1, 0).astype(
        "<u2").tobytes()
    codec.decompress(str(tmp_path / "compressed"), str(tmp_path / "reconstructed"), info)
    assert (tmp_path / "reconstructed").read_bytes() == path.read_bytes()


def test_programs_inside_the_project_are_found_through_its_root(tmp_path, fresh_options):
    head, node = tmp_path / "head", tmp_path / "node"
    fresh_options.project_root = str(head)
    program = head / "bin" / "mycopy"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\nexec cp \"$1\" \"$2\"\n")
    program.chmod(0o755)

    class ProjectCopy(WrapperCodec, LosslessCodec):
        def get_compression_params(self, original_path, compressed_path, original_file_info):
            return [original_path, compressed_path]

        get_decompression_params = get_compression_params

    codec = ProjectCopy(compressor_path=str(program), decompressor_path=str(program))
    assert codec.__dict__["_compressor_path"] == ("project", os.path.join("bin", "mycopy"))
    subprocess.run(["cp", "-r", str(head), str(node)], check=True)
    fresh_options.project_root = str(node)  # as on a node that sees the project elsewhere
    assert codec.compressor_path == str(node / "bin" / "mycopy")
    (node / "in").write_bytes(b"data")
    codec.compress(str(node / "in"), str(node / "out"))
    assert (node / "out").read_bytes() == b"data"


class GzipThroughRedirections(WrapperCodec, LosslessCodec):
    """Parameters written as enb 1.x's fpc and spdp plugins write them: < in > out."""

    def __init__(self):
        super().__init__(compressor_path="gzip", decompressor_path="gzip")

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return f" -9 -n <'{original_path}'>  '{compressed_path}'"

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        return f" -d < '{compressed_path}' > '{reconstructed_path}' "


class Pipeline(WrapperCodec, LosslessCodec):
    def __init__(self):
        super().__init__(compressor_path="gzip", decompressor_path="gzip")

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        return f"-c {original_path} | tee {compressed_path}"

    get_decompression_params = get_compression_params


def test_enb1_redirections_of_input_and_output_work_without_a_shell(tmp_path):
    import gzip
    original = tmp_path / "in $(touch INJECTED).raw"
    original.write_bytes(b"abc" * 1000)
    codec = GzipThroughRedirections()
    codec.compress(str(original), str(tmp_path / "c.gz"))
    assert (tmp_path / "c.gz").read_bytes() == gzip.compress(original.read_bytes(), 9, mtime=0)
    codec.decompress(str(tmp_path / "c.gz"), str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == original.read_bytes()
    assert not (tmp_path / "INJECTED").exists() and not os.path.exists("INJECTED")


def test_shell_pipelines_in_parameters_are_refused_with_the_reason(tmp_path):
    from enb.compression.wrapper import ParametersError
    (tmp_path / "in").write_bytes(b"x")
    with pytest.raises(ParametersError, match="shell operator '\\|'"):
        Pipeline().compress(str(tmp_path / "in"), str(tmp_path / "out"))

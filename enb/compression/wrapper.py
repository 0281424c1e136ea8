"""Codecs that run external programs (enb 1.x's ``enb.compression.wrapper``).

A :class:`WrapperCodec` names a compressor and a decompressor program and builds their
arguments in :meth:`~WrapperCodec.get_compression_params` and
:meth:`~WrapperCodec.get_decompression_params`. Those return a list of arguments, or, as in
enb 1.x, a string written like a shell command line (``f"-9 '{original_path}' -o
'{compressed_path}'"``). No shell ever runs: a string is split with :func:`shlex.split`, so
quoting works as in a shell but nothing in a file name can run a command. The program's time
and memory are measured by :mod:`enb.tcall`; a program that fails makes the row fail with
its command line, exit status and output.

Also here: :class:`LittleEndianWrapper` (the program gets little-endian samples),
:class:`JavaWrapperCodec` (``java -jar``), and, from :mod:`enb.compression.transforms`,
:class:`QuantizationWrapperCodec` and :class:`ReindexWrapper`.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import shlex
import shutil

from ..config import options
from .codec import AbstractCodec
from .results import CompressionException, DecompressionException

logger = logging.getLogger(__name__)


class CodecProgramNotFound(FileNotFoundError):
    """A wrapper codec's program is not installed; the message says what to install."""


def _find_program(path, codec_class, role: str, package: str | None) -> str:
    """Return the program: a bare name (``zstd``) is looked up on PATH, a path made absolute."""
    path = os.fspath(path) if path is not None else ""
    if path and os.sep not in path:
        found = shutil.which(path)
        if found:
            return found
    if path and os.path.isfile(path):
        return os.path.abspath(path)
    hint = f"; on Debian or Ubuntu: apt-get install {package}" if package else ""
    raise CodecProgramNotFound(
        f"{codec_class.__name__}: the {role} program {path!r} is not installed or not on "
        f"PATH{hint}")


def _project_relative(path: str) -> str | None:
    """Return ``path`` relative to the project root when it lies inside it, else None.

    Programs inside the project are run from the project root of the machine running the row
    (a remote node's mount), as enb 1.x does, so that one codec instance works everywhere.
    """
    root = os.path.abspath(options.resolved_project_root())
    absolute = os.path.abspath(path)
    if os.path.commonpath([root, absolute]) == root:
        return os.path.relpath(absolute, root)
    return None


class ParametersError(ValueError):
    """A wrapper codec's parameters ask for something enb does not run (a shell pipeline)."""


def parse_params(params) -> tuple[list[str], str | None, str | None]:
    """Return (arguments, standard input file, standard output file) of a codec's parameters.

    A list is the arguments as they are. A string is split as a shell would split it, and
    enb 1.x's redirections of the program's input and output are kept (``< in``, ``> out``,
    as enb 1.x's fpc and spdp plugins write them); pipes, lists and appends are refused, since
    no shell runs the program.
    """
    if params is None:
        return [], None, None
    if isinstance(params, (list, tuple)):
        return [os.fspath(p) if isinstance(p, os.PathLike) else str(p) for p in params], \
            None, None
    lexer = shlex.shlex(str(params), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    arguments, stdin, stdout = [], None, None
    position = 0
    while position < len(tokens):
        token = tokens[position]
        if token and all(c in "();<>|&" for c in token):
            if token in ("<", ">", ">|") and position + 1 < len(tokens):
                target = tokens[position + 1]
                if token == "<":
                    stdin = target
                else:
                    stdout = target
                position += 2
                continue
            raise ParametersError(
                f"the parameters {params!r} use the shell operator {token!r}: no shell runs "
                f"codec programs; return a list of arguments (input and output files may be "
                f"given with < and >)")
        arguments.append(token)
        position += 1
    return arguments, stdin, stdout


def to_argv(program: str, params) -> list[str]:
    """Return the argument list that runs ``program`` with ``params`` (a list or a string)."""
    arguments, _, _ = parse_params(params)
    return [program, *arguments]


class WrapperCodec(AbstractCodec):
    """A codec made of a compressor and a decompressor program.

    ``compressor_path`` and ``decompressor_path``: a file, or a program name looked up on
    PATH. ``output_invocation_dir``: if set, every command line run is written there with its
    status, output, time and memory. ``signature_in_name``: add a digest of the programs to
    the codec's name, so that results of a changed binary are not mixed with older ones.
    Subclasses may set :attr:`debian_package`, which a missing program's error then names.
    """
    #: The Debian package that holds the programs, named when they are missing.
    debian_package: str | None = None
    #: True for a compressor that writes the compressed data to its standard output (the
    #: output then goes to ``compressed_path``); likewise for the decompressor.
    compressor_writes_stdout = False
    decompressor_writes_stdout = False

    def __init__(self, compressor_path, decompressor_path, param_dict=None,
                 output_invocation_dir=None, signature_in_name=False):
        super().__init__(param_dict=param_dict)
        self.compressor_path = _find_program(compressor_path, type(self), "compressor",
                                             self.debian_package)
        self.decompressor_path = _find_program(decompressor_path, type(self), "decompressor",
                                               self.debian_package)
        self.output_invocation_dir = output_invocation_dir
        self.signature_in_name = signature_in_name

    # The programs' paths: inside the project they are kept relative to it (see
    # _project_relative) and resolved on the machine that reads them.
    @property
    def compressor_path(self) -> str:
        return self._resolve(self.__dict__["_compressor_path"])

    @compressor_path.setter
    def compressor_path(self, path) -> None:
        self.__dict__["_compressor_path"] = self._keep(path)

    @property
    def decompressor_path(self) -> str:
        return self._resolve(self.__dict__["_decompressor_path"])

    @decompressor_path.setter
    def decompressor_path(self, path) -> None:
        self.__dict__["_decompressor_path"] = self._keep(path)

    @staticmethod
    def _keep(path):
        path = os.fspath(path)
        relative = _project_relative(path) if os.path.isabs(path) else None
        return ("project", relative) if relative is not None else ("absolute", path)

    @staticmethod
    def _resolve(kept) -> str:
        kind, path = kept
        if kind == "project":
            return os.path.join(options.resolved_project_root(), path)
        return path

    def get_compression_params(self, original_path, compressed_path, original_file_info):
        """Return the compressor's arguments: a list, or a shell-style string (never run by
        a shell)."""
        raise NotImplementedError(f"{type(self).__name__} does not define "
                                  f"get_compression_params()")

    def get_decompression_params(self, compressed_path, reconstructed_path, original_file_info):
        """Return the decompressor's arguments: a list, or a shell-style string."""
        raise NotImplementedError(f"{type(self).__name__} does not define "
                                  f"get_decompression_params()")

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        arguments, stdin, stdout = parse_params(self.get_compression_params(
            original_path=original_path, compressed_path=compressed_path,
            original_file_info=original_file_info))
        argv = [self.compressor_path, *arguments]
        if self.compressor_writes_stdout:
            stdout = compressed_path
        try:
            status, output, seconds, memory_kb = run_program(argv, stdout_path=stdout,
                                                             stdin_path=stdin)
        except ProgramFailed as ex:
            raise CompressionException(original_path=original_path,
                                       compressed_path=compressed_path,
                                       file_info=original_file_info, status=ex.status,
                                       output=f"{self.name}: {ex}") from None
        results = self.compression_results_from_paths(original_path=original_path,
                                                      compressed_path=compressed_path)
        results.compression_time_seconds = seconds
        results.maximum_memory_kb = memory_kb
        self._write_invocation("compression", original_file_info, original_path, argv, status,
                               output, seconds, memory_kb,
                               (("Original path", original_path),
                                ("Compressed path", compressed_path)))
        return results

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        arguments, stdin, stdout = parse_params(self.get_decompression_params(
            compressed_path=compressed_path, reconstructed_path=reconstructed_path,
            original_file_info=original_file_info))
        argv = [self.decompressor_path, *arguments]
        if self.decompressor_writes_stdout:
            stdout = reconstructed_path
        try:
            status, output, seconds, memory_kb = run_program(argv, stdout_path=stdout,
                                                             stdin_path=stdin)
        except ProgramFailed as ex:
            raise DecompressionException(compressed_path=compressed_path,
                                         reconstructed_path=reconstructed_path,
                                         file_info=original_file_info, status=ex.status,
                                         output=f"{self.name}: {ex}") from None
        results = self.decompression_results_from_paths(compressed_path=compressed_path,
                                                        reconstructed_path=reconstructed_path)
        results.decompression_time_seconds = seconds
        results.maximum_memory_kb = memory_kb
        self._write_invocation("decompression", original_file_info, compressed_path, argv,
                               status, output, seconds, memory_kb,
                               (("Compressed path", compressed_path),
                                ("Reconstructed path", reconstructed_path)))
        return results

    def _write_invocation(self, what, file_info, fallback_path, argv, status, output, seconds,
                          memory_kb, paths) -> None:
        if self.output_invocation_dir is None:
            return
        os.makedirs(self.output_invocation_dir, exist_ok=True)
        source = (file_info or {}).get("file_path") if file_info is not None else None
        source = os.path.realpath(os.path.abspath(source or fallback_path))
        name = f"invocation_{what}_{self.name}{source.replace(os.sep, '_')}"
        lines = [f"{label}: {path}" for label, path in paths] + [
            f"Codec: {self.name}", f"Invocation: {shlex.join(argv)}", f"Status: {status}",
            f"Output: {output}", f"Measured time: {seconds} s",
            f"Maximum resident memory: {memory_kb} kb"]
        with open(os.path.join(self.output_invocation_dir, name), "w",
                  encoding="utf-8") as handle:
            handle.write("\n".join(lines))

    @staticmethod
    @functools.lru_cache(maxsize=16)
    def get_binary_signature(binary_path) -> str:
        """Return the first 5 hex digits of the sha256 of a program's file."""
        digest = hashlib.sha256()
        with open(binary_path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()[:5]

    @property
    def name(self) -> str:
        """The class name (plus the programs' signature if asked for) and the parameters
        whose names do not start with ``_``."""
        name = self.__class__.__name__
        if self.signature_in_name:
            compressor = self.get_binary_signature(self.compressor_path)
            decompressor = self.get_binary_signature(self.decompressor_path)
            name += f"_{compressor}" if compressor == decompressor else \
                f"_{compressor}_{decompressor}"
        shown = sorted((k, v) for k, v in self.param_dict.items() if not str(k).startswith("_"))
        if shown:
            name += "__" + "_".join(f"{k}={v}" for k, v in shown)
        return name


class ProgramFailed(Exception):
    """A codec program exited with an error; the message has its command line and output."""

    def __init__(self, message: str, status=None):
        super().__init__(message)
        self.status = status


#: Runs "$@" with its standard input from the file named by $1 and its standard output to
#: the file named by $2 (either empty: left as they are). The paths are arguments of the
#: shell, never part of its script, so no file name is ever parsed as shell code.
_REDIRECTED = ('i=$1; o=$2; shift 2; if [ -n "$i" ]; then exec <"$i"; fi; '
               'if [ -n "$o" ]; then exec >"$o"; fi; exec "$@"')


def run_program(argv: list[str], stdout_path: str | None = None,
                stdin_path: str | None = None):
    """Run a codec program; return (status, output, seconds, memory_kb).

    ``stdout_path``: write the program's standard output there (its standard error is still
    the returned output); ``stdin_path``: its standard input comes from there. Seconds are
    the program's CPU time (user + system), or its wall time with ``--report_wall_time``.
    Raise :class:`ProgramFailed` when it cannot run or exits with a status other than 0.
    """
    from .. import tcall
    command = shlex.join(argv) + (f" < {shlex.quote(os.fspath(stdin_path))}" if stdin_path
                                  else "") + \
        (f" > {shlex.quote(os.fspath(stdout_path))}" if stdout_path else "")
    logger.debug("running %s", command)
    invocation = argv if stdout_path is None and stdin_path is None else \
        ["/bin/sh", "-c", _REDIRECTED, "enb-codec", os.fspath(stdin_path or ""),
         os.fspath(stdout_path or ""), *argv]
    try:
        return tcall.get_status_output_time_memory(invocation)
    except tcall.InvocationError as ex:
        status = getattr(ex, "status", None)
        output = (getattr(ex, "output", None) or "").strip()
        if status is None or status < 0 or not isinstance(status, int):
            text = f"{command}: {ex}"
        else:
            text = f"{command} exited with status {status}" + \
                (f"; its output:\n{output}" if output else " and printed nothing")
        raise ProgramFailed(text, status) from None


class JavaWrapperCodec(WrapperCodec):
    """A wrapper for codecs written in Java: both programs are ``java``, and the parameters
    start with ``-jar`` and :attr:`compressor_jar` or :attr:`decompressor_jar`."""

    debian_package = "default-jre-headless"

    def __init__(self, compressor_jar, decompressor_jar, param_dict=None):
        java = shutil.which("java")
        if java is None:
            raise CodecProgramNotFound(
                f"{type(self).__name__} needs the 'java' program, which is not on PATH; on "
                f"Debian or Ubuntu: apt-get install default-jre-headless")
        super().__init__(compressor_path=java, decompressor_path=java, param_dict=param_dict)
        self.compressor_jar = os.path.relpath(os.path.abspath(compressor_jar),
                                              options.resolved_project_root())
        self.decompressor_jar = os.path.relpath(os.path.abspath(decompressor_jar),
                                                options.resolved_project_root())


class LittleEndianWrapper(WrapperCodec):
    """A WrapperCodec whose programs read and write little-endian samples.

    Big-endian images of 2 or more bytes per sample are converted to little-endian before
    compression and back after decompression; other images pass unchanged.
    """

    def _needs_swap(self, info) -> bool:
        return bool(info) and bool(info["big_endian"]) and int(info["bytes_per_sample"]) > 1 \
            and not info.get("float", False)

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        if not self._needs_swap(original_file_info):
            return super().compress(original_path, compressed_path, original_file_info)
        from .. import isets
        from .scratch import scratch_dir
        info = dict(original_file_info)
        info["big_endian"] = False
        info.pop("dtype", None)
        swapped = os.path.join(scratch_dir(), f"le-{isets.iproperties_to_name_tag(**_tag(info))}"
                                              f"-{os.getpid()}.raw")
        try:
            image = isets.load_array_bsq(original_path, image_properties_row=original_file_info)
            isets.dump_array_bsq(image, swapped, dtype=isets.iproperties_row_to_numpy_dtype(info))
            results = super().compress(swapped, compressed_path, info)
        finally:
            if os.path.exists(swapped):
                os.remove(swapped)
        results.original_path = original_path
        return results

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        if not self._needs_swap(original_file_info):
            return super().decompress(compressed_path, reconstructed_path, original_file_info)
        from .. import isets
        from .scratch import scratch_dir
        info = dict(original_file_info)
        info["big_endian"] = False
        info.pop("dtype", None)
        swapped = os.path.join(scratch_dir(), f"le-{isets.iproperties_to_name_tag(**_tag(info))}"
                                              f"-{os.getpid()}-rec.raw")
        try:
            results = super().decompress(compressed_path, swapped, info)
            image = isets.load_array_bsq(swapped, image_properties_row=info)
            isets.dump_array_bsq(image, reconstructed_path,
                                 dtype=isets.iproperties_row_to_numpy_dtype(original_file_info))
        finally:
            if os.path.exists(swapped):
                os.remove(swapped)
        results.reconstructed_path = reconstructed_path
        return results


def _tag(info) -> dict:
    return {k: info[k] for k in ("width", "height", "component_count", "big_endian",
                                 "bytes_per_sample", "signed")}


# enb 1.x defines these here (they wrap other codecs rather than programs).
from .transforms import QuantizationWrapperCodec, ReindexWrapper  # noqa: E402, F401

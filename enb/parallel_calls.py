"""What :mod:`enb.parallel`'s workers run, and the registry of decorated functions.

A chunk is a list of ``(function, args, kwargs)``; ``function`` is the function itself (ray
pickles it by value when it is the script's), or, on local-process, its number in the registry,
which forked workers inherit (so closures and lambdas work there too). Each call's outcome is
data: ``(True, value)`` or ``(False, error)``; the chunk's outcomes travel pickled, and a value
that does not pickle fails its call alone.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import random
import sys
import time
import traceback

_FUNCTIONS: list = []
#: Set in the workers of enb.parallel; calls started there run at once.
_WORKER: dict = {}


def register(fun) -> int:
    """Return the number of a newly decorated function."""
    _FUNCTIONS.append(fun)
    return len(_FUNCTIONS) - 1


def function(key: int):
    return _FUNCTIONS[key]


def function_count() -> int:
    return len(_FUNCTIONS)


_SHIPPED: set = set()


def ship_by_value(fun) -> None:
    """Make ray pickle ``fun`` by value when its module is not installed where workers run.

    A function of the script travels by value anyway (cloudpickle does that for
    ``__main__``); one of a module beside the script, or of a test module, would travel by
    reference and fail to import on a worker.
    """
    name = getattr(fun, "__module__", None)
    if name in _SHIPPED or name in (None, "__main__"):
        return
    _SHIPPED.add(name)
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if path is None:
        return
    import site
    import sysconfig
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"],
             os.path.dirname(os.path.abspath(__file__)),  # enb itself
             *(site.getsitepackages() if hasattr(site, "getsitepackages") else ())}
    path = os.path.realpath(path)
    if any(path.startswith(os.path.realpath(root) + os.sep) for root in roots if root):
        return
    from ray import cloudpickle
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:  # not importable by its name: cloudpickle ships it by value anyway
        pass


def function_name(key: int) -> str:
    fun = _FUNCTIONS[key] if 0 <= key < len(_FUNCTIONS) else None
    return getattr(fun, "__qualname__", repr(fun))


class ParallelCallError(Exception):
    """A call failed in a way that has no exception of its own to raise (a worker that kept
    dying, an exception that could not travel back); the message says what happened."""


class RemoteTraceback(Exception):
    """The traceback of the call on its worker (the ``__cause__`` of what get() raises)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return "\n" + self.text


@dataclasses.dataclass
class ChunkOutcome:
    """What a worker sends back for a chunk: pickled outcomes, its node and the time taken."""
    blob: bytes
    seconds: float
    node: str
    pid: int

    def results(self) -> list:
        return pickle.loads(self.blob)


@dataclasses.dataclass
class CallFailure:
    """A call that raised: the exception (when it pickles) and its traceback text."""
    exception: BaseException | None
    type_name: str
    message: str
    traceback: str


def in_worker() -> bool:
    """Tell whether this process is a worker of a table or of enb.parallel."""
    if _WORKER:
        return True
    rows = sys.modules.get("enb.rows")
    if rows is None or getattr(rows, "_STATE", None) is None:
        return False
    # A table's state set up in the head itself (tests do) does not make it a worker.
    import multiprocessing
    return multiprocessing.parent_process() is not None or \
        os.path.basename(sys.argv[0] if sys.argv else "") == "default_worker.py"


def init_worker(options_values: dict, generation) -> None:
    """Prepare a worker: the head's options, the working folder, a random seed of its own."""
    from .config import options
    options.restore(options_values)
    _WORKER.update(root=os.getcwd(), generation=generation)
    random.seed(os.urandom(32))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


def _apply_context(context) -> None:
    if context is not None and context[0] != _WORKER.get("generation"):
        from .config import options
        options.restore(context[1])
        options.rebase(_WORKER["root"])
        _WORKER["generation"] = context[0]
    root = _WORKER.get("root")
    if root and os.getcwd() != root:  # a call may have changed folder: the next starts here
        os.chdir(root)


def _failure(error: BaseException) -> CallFailure:
    from .misc import get_node_ip
    text = f"[node {get_node_ip()}, pid {os.getpid()}]\n" + "".join(
        traceback.format_exception(type(error), error, error.__traceback__))
    try:
        pickle.loads(pickle.dumps(error))
        portable = error
    except Exception:  # noqa: BLE001 -- it cannot travel; its text does
        portable = None
    return CallFailure(portable, type(error).__qualname__, str(error), text)


def _call(fun, args, kwargs) -> tuple:
    try:
        return True, fun(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 -- SystemExit in a call fails that call
        return False, _failure(error)


def run_calls(work: list, context) -> ChunkOutcome:
    """Run a chunk of calls in a worker; return their outcomes."""
    from .misc import get_node_ip
    _apply_context(context)
    started = time.perf_counter()
    outcomes = [_call(_FUNCTIONS[fun] if isinstance(fun, int) else fun, args, kwargs)
                for fun, args, kwargs in work]
    seconds = time.perf_counter() - started
    try:
        blob = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 -- find the values that do not pickle; they fail alone
        portable = []
        for ok, value in outcomes:
            try:
                pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                portable.append((ok, value))
            except Exception as error:  # noqa: BLE001
                portable.append((False, _failure(TypeError(
                    f"the call returned a {type(value).__name__}, which cannot be sent back "
                    f"from its worker: {error}"))))
        blob = pickle.dumps(portable, protocol=pickle.HIGHEST_PROTOCOL)
    return ChunkOutcome(blob=blob, seconds=seconds, node=get_node_ip(), pid=os.getpid())


def run_inline(fun, args, kwargs) -> tuple:
    """Run a call here and now (a call started inside a worker)."""
    ok, value = _call(fun, args, kwargs)
    return ok, value if ok else rebuild_error(value, None)


def rebuild_error(failure: CallFailure, outcome) -> BaseException:
    """Return the exception get() raises for a failed call, its remote traceback as cause."""
    error = failure.exception
    if error is None:
        error = ParallelCallError(f"{failure.type_name}: {failure.message}")
    error.__cause__ = RemoteTraceback(failure.traceback)
    return error

"""get_executor keeps expensive backends running, and never two of a one-per-process kind."""
from __future__ import annotations

import pytest

import enb.executors as executors
from enb.executors.base import Executor, Node, Pool


class _Recording(Executor):
    is_expensive_to_start = True
    one_per_process = True
    log: list = []

    def start(self):
        assert not any(e.started for e in _Recording.live if e.one_per_process), \
            "two one-per-process executors would run at once"
        _Recording.live.append(self)
        _Recording.log.append(("start", self.name))
        super().start()

    def shutdown(self):
        if self.started:
            _Recording.log.append(("shutdown", self.name))
        super().shutdown()

    @property
    def nodes(self):
        return (Node("head", "127.0.0.1", 1, True),)

    def open_pool(self, initializer, initargs=()) -> Pool:
        raise NotImplementedError


_Recording.live = []


class FakeRayA(_Recording):
    name = "fake-a"


class FakeRayB(_Recording):
    name = "fake-b"


class _Options:
    def __init__(self, executor):
        self.executor = executor
        self.cpu_limit = None

    def resolved_executor(self):
        return self.executor


@pytest.fixture
def fake_backends(monkeypatch):
    monkeypatch.setitem(executors.BACKENDS, "fake-a", f"{__name__}:FakeRayA")
    monkeypatch.setitem(executors.BACKENDS, "fake-b", f"{__name__}:FakeRayB")
    monkeypatch.setattr(executors, "_running", {})
    monkeypatch.setattr(_Recording, "settings_from_options", classmethod(lambda cls, o: {}))
    _Recording.log.clear()
    _Recording.live.clear()
    yield
    executors.shutdown_all()


def test_switching_between_one_per_process_backends_stops_the_running_one(fake_backends):
    first = executors.get_executor(_Options("fake-a"))
    assert executors.get_executor(_Options("fake-a")) is first  # reused
    second = executors.get_executor(_Options("fake-b"))
    assert not first.started and second.started
    assert _Recording.log == [("start", "fake-a"), ("shutdown", "fake-a"), ("start", "fake-b")]
    assert list(executors._running) == ["fake-b"]

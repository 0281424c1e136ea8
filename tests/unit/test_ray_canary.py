"""The canary of ray's internals checked against fake rays: it names each internal a ray lacks
(and finds nothing missing in a fake that has them all), and the canary test then fails."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from enb.executors._ray import internals
from tests import fake_ray

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def canary(fake) -> list[str]:
    """Run the canary in a fresh interpreter whose ``ray`` is ``fake``."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
            "from enb.executors._ray import internals; "
            "print(json.dumps(internals.missing_internals()))")
    done = subprocess.run([sys.executable, "-c", code, str(fake)], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_ray_with_every_internal_passes(tmp_path):
    assert canary(fake_ray.build(tmp_path)) == []


@pytest.mark.parametrize("name", fake_ray.NAMES)
def test_the_canary_names_the_one_internal_a_ray_lacks(tmp_path, name):
    missing = canary(fake_ray.build(tmp_path, without=name))
    assert len(missing) == 1 and missing[0].startswith(name + ":"), missing


def test_the_canary_test_fails_on_a_ray_without_an_internal_and_names_it(tmp_path):
    fake = fake_ray.build(tmp_path / "fake", without="call site 'own-node wait'")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", REPO,
         "tests/executors/test_ray_internals.py::"
         "test_every_internal_of_ray_enb_uses_is_in_the_installed_ray"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(fake)))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout
    assert "call site 'own-node wait': cannot read ray._private.node.Node.__init__" in done.stdout


@pytest.mark.parametrize("name", sorted(internals.SINCE))
def test_an_internal_a_ray_predates_is_not_asked_for(tmp_path, name):
    # ray 2.50.0, the lowest of the range, lacks these: enb does without them there.
    fake = fake_ray.build(tmp_path, without=name)
    (fake / "ray" / "__init__.py").write_text("__version__ = '2.50.0'\n")
    assert canary(fake) == []

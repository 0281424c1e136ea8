"""Test-wide set-up: enb must not read pytest's own flags (-v, -q, -x) as enb options."""
import os
import sys

import pytest

os.environ["ENB_IGNORE_ARGV"] = "1"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def fresh_options():
    """Each test starts from enb's defaults and leaves nothing set for the next one."""
    from enb.config import options
    options.reset()
    yield options
    options.reset()

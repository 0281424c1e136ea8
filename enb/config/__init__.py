"""Configuration: ``enb.config.options`` (see :mod:`enb.config.options`)."""
from .options import EXECUTOR_NAMES, OPTIONS, Option, OptionError, Options  # noqa: F401

#: The options of this process. Reading one the first time reads the command line and .ini files.
options = Options()

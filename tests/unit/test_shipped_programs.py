"""The programs enb runs in other interpreters from their source (enb.shipped): each one imports
only what the machine it runs on has, keeps to the Python it promises, and agrees with enb on
what they share; and ray's private API is touched by one module only."""
from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys

import pytest

import enb
from enb import shipped
from enb.executors._ray import internals, session
from enb.shipped import node_agent

PACKAGE = os.path.dirname(os.path.abspath(enb.__file__))
#: What each program may import besides the standard library: ray inside ray start; the facts
#: program reports the node's own enb, if one imports (in a try).
ALLOWED = {"ray_start": {"ray"}, "node_facts": {"enb"}}
#: The oldest Python whose grammar each program keeps to (the others run on the head's Python).
OLDEST = {"node_facts": (3, 6)}


def imported_modules(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." if node.level else node.module.split(".")[0])
    return found


@pytest.mark.parametrize("program", sorted(shipped.PROGRAMS))
def test_a_program_imports_only_the_standard_library_and_never_enb(program):
    tree = ast.parse(shipped.source(program), feature_version=OLDEST.get(program, (3, 10)))
    foreign = imported_modules(tree) - set(sys.stdlib_module_names) - ALLOWED.get(program, set())
    assert not foreign, f"{program} imports {sorted(foreign)}: it runs where enb is not installed"


@pytest.mark.parametrize("program", sorted(shipped.PROGRAMS))
def test_a_program_is_elided_from_logged_command_lines(program):
    argv = shipped.python_argv("python3", program, "run")
    assert shipped.loggable(argv) == f"python3 -I -c '<enb {program}>' run"
    ssh = ["ssh", "--", "node", shlex.join(argv)]
    assert shipped.source(program) not in shipped.loggable(ssh)


def test_the_node_agent_names_the_session_and_rays_files_as_enb_does():
    # The agent is stdlib-only and standalone, so it holds copies: they must not drift.
    assert node_agent.SESSION_ENV == session.SESSION_ENV
    assert node_agent.SESSION_BASE_DIR == session.SESSION_BASE_DIR
    assert node_agent.TOKEN_FILE_NAME == session.TOKEN_FILE_NAME
    assert node_agent.TAG_PATTERN.match(session.RaySession.new().tag)
    assert node_agent.WORKER_FILE.pattern == internals.WORKER_LOG_FILE.pattern
    assert os.path.join("session_latest", "logs") == internals.SESSION_LOGS


def test_the_pipeline_guard_runs_its_pipeline_and_passes_on_its_status():
    from enb.transport.mount import guarded_argv
    done = subprocess.run(guarded_argv(["sh", "-c", "echo piped; exit 3"]), capture_output=True,
                          text=True, timeout=30)
    assert (done.returncode, done.stdout) == (3, "piped\n")


#: Where ray's private API shows: its private modules, its generated protocol, its command's
#: module, its temp-dir file names, the internal config keys.
PRIVATE = re.compile(r"ray\._private|ray\._raylet|ray\.core\.generated|ray\.scripts|"
                     r"ray_current_cluster|session_latest|"
                     + "|".join(map(re.escape, internals.SYSTEM_CONFIG_KEYS)))
#: The node agent forwards workers' output from ray's session logs: it holds the file names
#: (checked equal above), as a standalone program must.
NAMES_ONLY = {os.path.join("shipped", "node_agent.py"): {"session_latest"}}


def test_rays_private_api_is_touched_by_one_module_only():
    touching = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, PACKAGE)
            with open(path, encoding="utf-8") as source:
                found = set(PRIVATE.findall(source.read())) - NAMES_ONLY.get(relative, set())
            if found:
                touching[relative] = sorted(found)
    assert set(touching) == {os.path.join("executors", "_ray", "internals.py")}, touching

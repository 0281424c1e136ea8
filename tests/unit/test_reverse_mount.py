"""The reverse sshfs mount (enb.transport.mount), its pieces and its whole sequence, checked
with the recording runner of tests/fakes.py: nothing here opens a connection."""
from __future__ import annotations

import shlex
import sys
import threading
import time

import pytest

from enb.shipped import source
from enb.transport import mount as mount_module
from enb.transport.cluster_csv import ClusterNode
from enb.transport.mount import (MountError, ReverseMount, dpipe_argv, find_sftp_server,
                                 sftp_server_argv, sshfs_argv)
from enb.transport.runner import ToolNotFoundError
from enb.transport.ssh import NodeUnreachable, SshFailureKind, SshOptions, ssh_argv
from tests.fakes import FakeRunner
from tests.processes import wait_for

NODE = ClusterNode("node1")
FULL = ClusterNode("10.0.0.7", ssh_user="alice", ssh_port=2222, ssh_key="/keys/id_node")


def remote_words(argv: list[str]) -> list[str]:
    """Split the remote command line the way the node's POSIX shell will."""
    assert argv[-3] == "--"
    return shlex.split(argv[-1])


# --- reverse mount: pieces -------------------------------------------------------------------------

def test_sftp_server_starts_in_the_project_and_escapes_percent():
    assert sftp_server_argv("/usr/lib/openssh/sftp-server", "/home/a/100%") == [
        "/usr/lib/openssh/sftp-server", "-e", "-d", "/home/a/100%%"]


def test_sshfs_runs_in_foreground_passive_mode_without_reconnect_or_compression():
    argv = sshfs_argv("/home/a/proj", "/home/b/.enb-remote")
    assert argv == ["sshfs", "-f", ":/home/a/proj", "/home/b/.enb-remote",
                    "-o", "passive", "-o", "idmap=user"]
    assert "reconnect" not in argv and "-C" not in argv
    assert sshfs_argv("/p", "/m", passive_option="slave")[5] == "slave"
    assert sshfs_argv("/p", "/m", follow_outside_symlinks=True)[-2:] == ["-o", "no_contain_symlinks"]


def test_dpipe_joins_the_two_commands_and_refuses_separator_arguments():
    assert dpipe_argv("dpipe", ["a", "-x"], ["b"]) == ["dpipe", "--", "a", "-x", "=", "b"]
    for token in ["=", "{=", "=}", "}="]:
        with pytest.raises(ValueError):
            dpipe_argv("dpipe", ["a", token], ["b"])


def test_find_sftp_server_takes_the_first_existing_candidate(tmp_path):
    server = tmp_path / "sftp-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)
    assert find_sftp_server((str(tmp_path / "missing"), str(server))) == str(server)


def test_find_sftp_server_explains_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MountError, match="openssh-sftp-server"):
        find_sftp_server((str(tmp_path / "missing"),))


def test_scripts_are_single_lines_without_history_or_single_quotes():
    for script in (mount_module._PROBE_SCRIPT, mount_module._WAIT_SCRIPT, mount_module._UNMOUNT_SCRIPT,
                   mount_module._WAIT_GONE_SCRIPT):
        assert "\n" not in script and "!" not in script and "'" not in script


# --- reverse mount: the whole sequence with FakeRunner ----------------------------------------------

PROJECT_FACTS = "path=/home/alice/.enb-remote\noption=passive\noption=no_contain_symlinks\nstate=empty\n"


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "my project"
    path.mkdir()
    return path


def make_mount(project, runner, **kwargs):
    return ReverseMount(FULL, project, runner=runner, sftp_server="/usr/lib/openssh/sftp-server",
                        ssh_options=SshOptions(connect_timeout=5), timeout=2, **kwargs)


def scripted_runner(probe=PROJECT_FACTS) -> FakeRunner:
    runner = FakeRunner()
    runner.respond(mount_module._PROBE_SCRIPT, stdout=probe)
    return runner


def script_args(argv: list[str], script: str) -> list[str] | None:
    """Return the positional arguments of ``script`` if ``argv`` runs it over ssh."""
    words = remote_words(argv)
    if words[:3] == ["sh", "-c", script]:
        return words[4:]
    return None


def test_start_probes_then_starts_dpipe_then_waits(project):
    runner = scripted_runner()
    mount = make_mount(project, runner).start()
    probe, pipeline, wait = runner.calls
    assert probe == ssh_argv(FULL, ["sh", "-c", mount_module._PROBE_SCRIPT, "sh", ".enb-remote"],
                             connect_timeout=5)
    assert script_args(wait, mount_module._WAIT_SCRIPT)[0] == "/home/alice/.enb-remote"
    assert mount.remote_path == "/home/alice/.enb-remote" and mount.is_running

    # The pipeline runs under the guard that ends it if this process dies.
    assert pipeline[:4] == [sys.executable, "-I", "-c", source("pipeline_guard")]
    pipeline = pipeline[4:]
    separator = pipeline.index("=")
    assert pipeline[:separator] == ["/usr/bin/dpipe", "--", "/usr/lib/openssh/sftp-server", "-e", "-d",
                                    str(project)]
    right = pipeline[separator + 1:]
    assert right == ssh_argv(FULL, ["sshfs", "-f", f":{project}", "/home/alice/.enb-remote", "-o", "passive",
                                    "-o", "idmap=user", "-o", "no_contain_symlinks"],
                             connect_timeout=5, server_alive_interval=15)
    # The project path has a blank: it reaches sshfs as one word.
    assert remote_words(right)[2] == f":{project}"


def test_old_sshfs_gets_the_slave_option_and_no_symlink_option(project):
    runner = scripted_runner("path=/home/alice/.enb-remote\nstate=empty\n")
    make_mount(project, runner).start()
    sshfs = remote_words(runner.calls[1])
    assert sshfs[-4:] == ["-o", "slave", "-o", "idmap=user"]


def test_relative_and_tilde_mount_points_are_relative_to_the_home(project):
    for given in ["~/.enb-remote", ".enb-remote"]:
        runner = scripted_runner()
        make_mount(project, runner, mount_point=given).start()
        assert script_args(runner.calls[0], mount_module._PROBE_SCRIPT) == [".enb-remote"]


def test_absolute_mount_point_is_kept(project):
    runner = scripted_runner("path=/mnt/x y\nstate=empty\n")
    mount = make_mount(project, runner, mount_point="/mnt/x y").start()
    assert script_args(runner.calls[0], mount_module._PROBE_SCRIPT) == ["/mnt/x y"]
    assert mount.remote_path == "/mnt/x y"


@pytest.mark.parametrize("bad", ["", "~bob/x", "~", "a\0b"])
def test_bad_mount_points_are_refused(project, bad):
    with pytest.raises(ValueError):
        make_mount(project, FakeRunner(), mount_point=bad)


def test_stop_unmounts_then_stops_the_pipeline(project):
    runner = scripted_runner()
    mount = make_mount(project, runner).start()
    pipeline = runner.started[0]
    mount.stop()
    unmount = runner.calls[3]
    assert script_args(unmount, mount_module._UNMOUNT_SCRIPT) == ["/home/alice/.enb-remote", "-u"]
    assert pipeline.stopped and len(runner.calls) == 4
    mount.stop()  # again: nothing more happens
    assert len(runner.calls) == 4
    with pytest.raises(MountError, match="not started"):
        mount.remote_path


def test_busy_mount_is_detached_lazily_after_the_pipeline_stops(project):
    runner = scripted_runner()
    mount = make_mount(project, runner).start()
    runner.respond(lambda argv: script_args(argv, mount_module._UNMOUNT_SCRIPT) == [
        "/home/alice/.enb-remote", "-u"], returncode=1, stderr="Device or resource busy")
    mount.stop()
    assert script_args(runner.calls[-1], mount_module._UNMOUNT_SCRIPT)[1] == "-uz"


def test_mount_that_will_not_go_away_is_an_error(project):
    runner = scripted_runner()
    mount = make_mount(project, runner).start()
    runner.respond(mount_module._UNMOUNT_SCRIPT, returncode=1, repeat=True)
    with pytest.raises(MountError, match="fusermount -uz /home/alice/.enb-remote"):
        mount.stop()
    assert runner.started[0].stopped


def test_unreachable_node_at_stop_only_warns(project, caplog):
    runner = scripted_runner()
    mount = make_mount(project, runner).start()
    runner.respond(mount_module._UNMOUNT_SCRIPT, returncode=255, stderr="Connection timed out")
    mount.stop()
    assert runner.started[0].stopped and "could not reach the node" in caplog.text
    assert len(runner.calls) == 4  # no second attempt at an unreachable node


def test_context_manager_mounts_and_unmounts(project):
    runner = scripted_runner()
    with make_mount(project, runner) as mount:
        assert mount.is_running
    assert runner.started[0].stopped and not mount.is_running


def test_unreachable_node_at_start_explains_the_failure(project):
    runner = FakeRunner()
    runner.respond(mount_module._PROBE_SCRIPT, returncode=255, stderr="alice@10.0.0.7: Permission denied")
    with pytest.raises(NodeUnreachable) as info:
        make_mount(project, runner).start()
    assert info.value.failure.kind is SshFailureKind.AUTH_REFUSED
    assert runner.started == []


@pytest.mark.parametrize("state, message", [
    ("mounted", "already mounted at /home/alice/.enb-remote"),
    ("nonempty", "is not empty"),
    ("notdir", "cannot create the folder"),
])
def test_mount_point_in_use_is_refused(project, state, message):
    runner = scripted_runner(f"path=/home/alice/.enb-remote\nstate={state}\n")
    runner.respond(mount_module._WAIT_GONE_SCRIPT, returncode=1)  # a live mount stays
    with pytest.raises(MountError, match=message):
        make_mount(project, runner).start()
    assert runner.started == []


def test_a_mount_that_goes_within_moments_is_replaced(project):
    runner = FakeRunner()
    runner.respond(mount_module._PROBE_SCRIPT, stdout="path=/home/alice/.enb-remote\nstate=mounted\n")
    runner.respond(mount_module._PROBE_SCRIPT, stdout=PROJECT_FACTS)
    make_mount(project, runner).start()
    assert script_args(runner.calls[1], mount_module._WAIT_GONE_SCRIPT) == ["/home/alice/.enb-remote",
                                                                            "50"]
    assert script_args(runner.calls[2], mount_module._PROBE_SCRIPT) == [".enb-remote"]
    assert len(runner.started) == 1


def test_stale_mount_left_by_a_dead_session_is_removed_first(project):
    runner = FakeRunner()
    runner.respond(mount_module._PROBE_SCRIPT, stdout="path=/home/alice/.enb-remote\nstate=stale\n")
    runner.respond(mount_module._PROBE_SCRIPT, stdout=PROJECT_FACTS)
    make_mount(project, runner).start()
    assert script_args(runner.calls[1], mount_module._UNMOUNT_SCRIPT) == ["/home/alice/.enb-remote", "-uz"]
    assert script_args(runner.calls[2], mount_module._PROBE_SCRIPT) == [".enb-remote"]
    assert len(runner.started) == 1


def test_missing_tools_on_the_node_are_named(project):
    runner = scripted_runner("path=/home/alice/.enb-remote\nmissing=sshfs\nmissing=fusermount\nstate=empty\n")
    with pytest.raises(MountError, match="sshfs, fusermount not installed on the node"):
        make_mount(project, runner).start()


def test_missing_dpipe_on_the_head_is_named_before_connecting(project):
    runner = FakeRunner(installed=["ssh"])
    with pytest.raises(ToolNotFoundError, match="vde2"):
        make_mount(project, runner).start()
    assert runner.calls == []


def test_missing_project_folder(tmp_path):
    with pytest.raises(MountError, match="does not exist"):
        make_mount(tmp_path / "nope", FakeRunner()).start()


def test_pipeline_that_dies_is_reported_with_its_output(project):
    runner = scripted_runner()
    runner.respond_popen(returncode=1, output="fuse: device not found, try 'modprobe fuse' first")
    with pytest.raises(MountError, match="modprobe fuse"):
        make_mount(project, runner).start()


def test_pipeline_whose_ssh_fails_raises_node_unreachable(project):
    runner = scripted_runner()
    runner.respond_popen(returncode=255, output="Host key verification failed.")
    with pytest.raises(NodeUnreachable) as info:
        make_mount(project, runner).start()
    assert info.value.failure.kind is SshFailureKind.HOST_KEY_UNKNOWN


def test_mount_that_never_appears_times_out_and_cleans_up(project):
    runner = scripted_runner()
    runner.respond(mount_module._WAIT_SCRIPT, returncode=1, repeat=True)
    mount = make_mount(project, runner)
    mount.timeout = 0.2
    with pytest.raises(MountError, match="did not appear"):
        mount.start()
    assert runner.started[0].stopped
    assert script_args(runner.calls[-1], mount_module._UNMOUNT_SCRIPT)[1] == "-uz"
    assert not mount.is_running


def test_starting_twice_is_an_error(project):
    mount = make_mount(project, scripted_runner()).start()
    with pytest.raises(MountError, match="already started"):
        mount.start()


def test_stop_from_another_thread_while_starting_cleans_up_before_returning(project):
    runner = scripted_runner()
    runner.respond(mount_module._WAIT_SCRIPT, returncode=1, repeat=True)  # never appears
    mount = make_mount(project, runner)
    mount.timeout = 60
    errors = []

    def start():
        try:
            mount.start()
        except MountError as error:
            errors.append(error)

    starter = threading.Thread(target=start)
    starter.start()
    try:
        assert wait_for(lambda: runner.started, timeout=10)
        began = time.monotonic()
        mount.stop()
        assert time.monotonic() - began < 10
        assert runner.started[0].stopped and not mount.is_running
        assert script_args(runner.calls[-1], mount_module._UNMOUNT_SCRIPT)[1] == "-uz"
    finally:
        starter.join(10)
    assert not starter.is_alive()
    assert len(errors) == 1 and "stopped while it started" in str(errors[0])


def test_stop_before_the_pipeline_starts_prevents_it(project):
    runner = scripted_runner()
    mount = make_mount(project, runner)
    original = mount._prepare_mount_point
    stoppers = []

    def probe_then_stop():
        facts = original()
        stoppers.append(threading.Thread(target=mount.stop))
        stoppers[0].start()
        assert wait_for(lambda: mount._cancelled, timeout=5)
        return facts

    mount._prepare_mount_point = probe_then_stop
    with pytest.raises(MountError, match="stopped while it started"):
        mount.start()
    stoppers[0].join(5)
    assert not stoppers[0].is_alive()  # stop() returned once start() had given up
    assert runner.started == []

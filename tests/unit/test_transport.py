"""Command construction of enb.transport (ssh argv, runners, failure diagnosis, reverse mount),
checked with FakeRunner: nothing here opens a connection."""
from __future__ import annotations

import os
import shlex
import sys
import threading
import time

import pytest

from enb.transport import mount as mount_module
from enb.transport.cluster_csv import ClusterNode
from enb.transport.mount import (MountError, ReverseMount, dpipe_argv, find_sftp_server,
                                 jailed_argv, sftp_server_argv, sshfs_argv)
from enb.transport.runner import CommandResult, FakeRunner, SubprocessRunner, ToolNotFoundError
from enb.transport.ssh import (NodeUnreachable, SshFailureKind, SshOptions, classify_ssh_failure,
                               run_on_node, ssh_argv)

NODE = ClusterNode("node1")
FULL = ClusterNode("10.0.0.7", ssh_user="alice", ssh_port=2222, ssh_key="/keys/id_node")


def remote_words(argv: list[str]) -> list[str]:
    """Split the remote command line the way the node's POSIX shell will."""
    assert argv[-3] == "--"
    return shlex.split(argv[-1])


# --- ssh_argv ----------------------------------------------------------------------------------

def test_minimal_node_gives_batch_mode_timeout_and_no_optional_flags():
    assert ssh_argv(NODE, ["true"]) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
        "-o", "StrictHostKeyChecking=accept-new", "-o", "ControlMaster=no",
        "-T", "--", "node1", "true"]


def test_full_node_gives_port_key_and_user():
    assert ssh_argv(FULL, ["echo", "hi"], connect_timeout=3) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-p", "2222",
        "-i", "/keys/id_node", "-o", "IdentitiesOnly=yes", "-l", "alice",
        "-o", "StrictHostKeyChecking=accept-new", "-o", "ControlMaster=no",
        "-T", "--", "10.0.0.7", "echo hi"]


def test_port_only_when_not_the_default():
    assert "-p" not in ssh_argv(ClusterNode("n", ssh_port=22), ["true"])
    argv = ssh_argv(ClusterNode("n", ssh_port=2200), ["true"])
    assert argv[argv.index("-p") + 1] == "2200"


def test_identity_only_when_a_key_is_given():
    argv = ssh_argv(ClusterNode("n"), ["true"])
    assert "-i" not in argv and "IdentitiesOnly=yes" not in argv
    argv = ssh_argv(ClusterNode("n", ssh_key="/k"), ["true"])
    assert argv[argv.index("-i") + 1:argv.index("-i") + 4] == ["/k", "-o", "IdentitiesOnly=yes"]


def test_user_only_when_given():
    assert "-l" not in ssh_argv(ClusterNode("n"), ["true"])
    argv = ssh_argv(ClusterNode("n", ssh_user="bob"), ["true"])
    assert argv[argv.index("-l") + 1] == "bob"


def test_address_follows_double_dash_so_ssh_never_reads_it_as_an_option():
    argv = ssh_argv(ClusterNode("::1"), ["-v", "x"])
    assert argv[-3:] == ["--", "::1", "-v x"]


@pytest.mark.parametrize("argument", [
    "a b", "a;reboot", "$(id)", "`id`", "a|b", "a&b", "x>y", "x<y", "(x)", "it's", 'say "hi"',
    "line\nbreak", "*", "~", "", "-rf", "a\\b", "#comment", "$HOME", "!x", "{a,b}",
])
def test_remote_arguments_reach_the_node_as_literal_words(argument):
    argv = ssh_argv(NODE, ["printf", "%s", argument])
    assert remote_words(argv) == ["printf", "%s", argument]


def test_remote_command_is_one_argv_element():
    argv = ssh_argv(NODE, ["sh", "-c", "echo $1", "sh", "a b"])
    assert argv[-1] == "sh -c 'echo $1' sh 'a b'"
    assert len(argv) == argv.index("--") + 3


def test_remote_argv_given_as_a_string_is_refused():
    with pytest.raises(TypeError):
        ssh_argv(NODE, "rm -rf /tmp/x")
    with pytest.raises(TypeError):
        ssh_argv(NODE, ["sleep", 3])


def test_empty_remote_argv_gives_no_command():
    argv = ssh_argv(NODE, [], extra_options=["SessionType=none"])
    assert argv[-2:] == ["--", "node1"] and "SessionType=none" in argv


def test_tty_and_batch_and_timeout_switches():
    argv = ssh_argv(NODE, ["top"], tty=True, batch=False, connect_timeout=None)
    assert "-tt" in argv and "-T" not in argv
    assert "BatchMode=yes" not in argv and not any(a.startswith("ConnectTimeout") for a in argv)


def test_host_key_checking_is_configurable_and_checked():
    assert "StrictHostKeyChecking=yes" in ssh_argv(NODE, ["true"], host_key_checking="yes")
    assert not any("StrictHostKeyChecking" in a for a in ssh_argv(NODE, ["true"], host_key_checking=None))
    with pytest.raises(ValueError):
        ssh_argv(NODE, ["true"], host_key_checking="maybe; rm -rf /")


def test_ssh_config_file_replaces_the_users():
    argv = ssh_argv(NODE, ["true"], ssh_config="/dev/null")
    assert argv[:3] == ["ssh", "-F", "/dev/null"]
    assert "-F" not in ssh_argv(NODE, ["true"])


def test_known_hosts_and_keepalive():
    argv = ssh_argv(NODE, ["true"], known_hosts="/tmp/kh", server_alive_interval=15)
    assert "UserKnownHostsFile=/tmp/kh" in argv
    assert "ServerAliveInterval=15" in argv and "ServerAliveCountMax=3" in argv


def test_known_hosts_path_with_blanks_and_percent_is_quoted_for_ssh_config():
    argv = ssh_argv(NODE, ["true"], known_hosts='/tmp/my dir/"kh"%h')
    assert 'UserKnownHostsFile="/tmp/my dir/\\"kh\\"%%h"' in argv


def test_extra_options_are_appended_as_o_options():
    argv = ssh_argv(NODE, ["true"], extra_options=["Compression=yes", "LogLevel=ERROR"])
    assert argv[argv.index("Compression=yes") - 1] == "-o"
    assert argv.index("LogLevel=ERROR") < argv.index("--")


@pytest.mark.parametrize("option", ["BatchMode=no", "connecttimeout=99", "Port=1", "User=root",
                                    "ControlMaster=auto", "-v", "NoEquals", "Proxy Command=x"])
def test_extra_options_cannot_override_or_smuggle_flags(option):
    with pytest.raises(ValueError):
        ssh_argv(NODE, ["true"], extra_options=[option])


def test_ssh_options_are_data_and_overrides_win():
    options = SshOptions(connect_timeout=4, known_hosts="/kh")
    argv = options.argv(FULL, ["true"], connect_timeout=7)
    assert "ConnectTimeout=7" in argv and "UserKnownHostsFile=/kh" in argv
    assert options.argv(FULL, ["true"]) == ssh_argv(FULL, ["true"], connect_timeout=4, known_hosts="/kh")


def test_commands_share_the_nodes_connection_in_the_control_dir_when_there_is_one():
    argv = ssh_argv(FULL, ["true"], control_dir="/tmp/enb-ray-1a2b")
    assert "ControlMaster=no" in argv  # never becomes a master by itself (ssh_config or not)
    assert "ControlPath=/tmp/enb-ray-1a2b/ssh-%C" in argv  # %C: one socket per node
    assert argv[-2:] == [FULL.address, "true"]


def test_a_control_dir_with_blanks_or_percent_keeps_only_enbs_token():
    argv = ssh_argv(NODE, ["true"], control_dir="/tmp/my dir%h")
    assert 'ControlPath="/tmp/my dir%%h/ssh-%C"' in argv


def test_the_master_connects_once_and_stays_in_the_background_while_used():
    options = SshOptions(connect_timeout=4, control_dir="/tmp/enb-ray-1a2b")
    argv = options.master_argv(FULL, persist=30)
    assert "ControlMaster=yes" in argv and "ControlMaster=no" not in argv
    assert "ControlPersist=30s" in argv  # ends by itself 30 s after its last command
    assert "ControlPath=/tmp/enb-ray-1a2b/ssh-%C" in argv
    assert "ServerAliveInterval=15" in argv  # a vanished node ends the sessions it carries
    assert "-N" in argv and argv[-1] == FULL.address  # no remote command
    assert argv[:argv.index("-o")] == options.argv(FULL, [])[:argv.index("-o")]
    with pytest.raises(ValueError):
        ssh_argv(FULL, ["true"], control_dir="/tmp/x", master_persist=30)
    with pytest.raises(ValueError):
        ssh_argv(FULL, [], master_persist=30)


def test_ending_the_master_names_the_same_node_port_and_user():
    options = SshOptions(control_dir="/tmp/enb-ray-1a2b")
    argv = options.master_exit_argv(FULL)
    assert argv[:3] == ["ssh", "-O", "exit"]
    assert argv[3:] == options.argv(FULL, [])[1:]


# --- runners -------------------------------------------------------------------------------------

def test_subprocess_runner_captures_output_status_and_duration():
    result = SubprocessRunner().run([sys.executable, "-c",
                                     "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"])
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.duration > 0 and not result.ok and not result.timed_out


def test_subprocess_runner_passes_input():
    result = SubprocessRunner().run(["cat"], input="abc")
    assert result.ok and result.stdout == "abc"


def test_subprocess_runner_kills_the_whole_group_on_timeout():
    script = "import subprocess, sys; subprocess.Popen(['sleep', '30']); print('started', flush=True); " \
             "import time; time.sleep(30)"
    result = SubprocessRunner().run([sys.executable, "-c", script], timeout=1)
    assert result.timed_out and not result.ok and result.duration < 10
    assert result.stdout == "started\n"  # communicate() returned: the grandchild's pipe closed too


def test_subprocess_runner_reports_a_missing_program():
    with pytest.raises(ToolNotFoundError, match="openssh-client"):
        SubprocessRunner().run(["/nonexistent/ssh"])


def wait_for(condition, timeout=5.0) -> bool:
    """Poll ``condition`` until it holds: the background command's output goes to a file,
    which offers nothing to block on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling interval of the wait above
    return True


def living_members(pgid: int) -> list[int]:
    """Return the processes of group ``pgid`` that are not zombies awaiting their reaper."""
    members = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or it ended while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry))
    return members


def test_subprocess_background_process_stops_its_group():
    process = SubprocessRunner().popen(
        [sys.executable, "-c", "import os, subprocess, time; subprocess.Popen(['sleep', '60']); "
                               "print(os.getpgrp() == os.getpid(), os.getsid(0) != os.getpid(), flush=True); "
                               "time.sleep(60)"])
    try:
        assert wait_for(lambda: "\n" in process.output())
        # Leader of its own group, but not of a session (dpipe's setpgrp() needs that).
        assert process.output() == "True True\n"
        assert process.poll() is None and len(living_members(process.pid)) == 2
    finally:
        status = process.stop(grace=2)
    assert status is not None and process.poll() is not None
    assert wait_for(lambda: living_members(process.pid) == [])


def test_fake_runner_records_and_answers_in_order():
    runner = FakeRunner()
    runner.respond("probe", stdout="first")
    runner.respond(lambda argv: argv[0] == "x", returncode=2, repeat=True)
    assert runner.run(["ssh", "run probe"]).stdout == "first"
    assert runner.run(["ssh", "run probe"]).stdout == ""  # used once
    assert runner.run(["x"]).returncode == 2 and runner.run(["x"]).returncode == 2
    assert runner.calls == [["ssh", "run probe"], ["ssh", "run probe"], ["x"], ["x"]]
    process = runner.popen(["dpipe"])
    assert process.poll() is None and process.stop() == -15 and process.stopped


def test_run_on_node_builds_ssh_and_returns_the_result():
    runner = FakeRunner()
    runner.respond("hostname", stdout="node1\n")
    result = run_on_node(FULL, ["hostname"], runner=runner, timeout=5,
                         ssh_options=SshOptions(connect_timeout=2))
    assert result.stdout == "node1\n"
    assert runner.calls == [ssh_argv(FULL, ["hostname"], connect_timeout=2)]
    assert runner.timeouts == [5]


# --- failure diagnosis ----------------------------------------------------------------------------

def failed(stderr: str, returncode: int = 255, timed_out: bool = False) -> CommandResult:
    return CommandResult(argv=("ssh",), returncode=returncode, stderr=stderr, timed_out=timed_out)


@pytest.mark.parametrize("stderr, kind", [
    ("ssh: connect to host 10.0.0.7 port 2222: Connection timed out", SshFailureKind.TIMEOUT),
    ("Connection timed out during banner exchange", SshFailureKind.TIMEOUT),
    ("ssh: connect to host 10.0.0.7 port 2222: Connection refused", SshFailureKind.CONNECTION_REFUSED),
    ("ssh: connect to host 10.0.0.7 port 2222: No route to host", SshFailureKind.NO_ROUTE),
    ("ssh: connect to host 10.0.0.7 port 2222: Network is unreachable", SshFailureKind.NO_ROUTE),
    ("alice@10.0.0.7: Permission denied (publickey).", SshFailureKind.AUTH_REFUSED),
    ("Received disconnect from 10.0.0.7: Too many authentication failures", SshFailureKind.AUTH_REFUSED),
    ("No ED25519 host key is known for [10.0.0.7]:2222 and you have requested strict checking.\r\n"
     "Host key verification failed.", SshFailureKind.HOST_KEY_UNKNOWN),
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.",
     SshFailureKind.HOST_KEY_CHANGED),
    ("ssh: Could not resolve hostname nodex: Name or service not known", SshFailureKind.DNS),
    ("ssh: Could not resolve hostname nodex: Temporary failure in name resolution", SshFailureKind.DNS),
    ("WARNING: UNPROTECTED PRIVATE KEY FILE!\nalice@10.0.0.7: Permission denied (publickey).",
     SshFailureKind.KEY_FILE),
    ('Load key "/keys/id_node": invalid format\nalice@10.0.0.7: Permission denied (publickey).',
     SshFailureKind.KEY_FILE),
    ("kex_exchange_identification: read: Connection reset by peer", SshFailureKind.CONNECTION_CLOSED),
    ("something new", SshFailureKind.UNKNOWN),
])
def test_ssh_failures_are_classified_with_a_one_line_fix(stderr, kind):
    failure = classify_ssh_failure(failed(stderr), FULL)
    assert failure.kind is kind
    assert failure.problem and failure.fix and "\n" not in str(failure)


def test_auth_fix_names_the_key_user_and_port():
    failure = classify_ssh_failure(failed("alice@10.0.0.7: Permission denied (publickey)."), FULL)
    assert "ssh-copy-id -i /keys/id_node -p 2222 alice@10.0.0.7" in failure.fix


def test_changed_host_key_fix_names_the_address():
    failure = classify_ssh_failure(failed("REMOTE HOST IDENTIFICATION HAS CHANGED"), FULL)
    assert "ssh-keygen -R 10.0.0.7" in failure.fix


def test_refused_fix_mentions_the_port():
    failure = classify_ssh_failure(failed("Connection refused"), FULL)
    assert "10.0.0.7 port 2222" in failure.problem and "ssh_port" in failure.fix


def test_a_remote_command_failure_is_not_an_ssh_failure():
    assert classify_ssh_failure(failed("grep: x: No such file", returncode=2), FULL) is None
    assert classify_ssh_failure(failed("", returncode=0), FULL) is None


def test_runner_timeout_is_a_timeout_failure():
    failure = classify_ssh_failure(failed("", returncode=-9, timed_out=True), FULL)
    assert failure.kind is SshFailureKind.TIMEOUT and "before the timeout" in failure.problem


def test_classification_works_without_a_node():
    assert classify_ssh_failure(failed("Permission denied")).kind is SshFailureKind.AUTH_REFUSED
    unknown = classify_ssh_failure(failed("mystery"))
    assert unknown.problem == "ssh failed: mystery" and unknown.fix == "run ssh -v NODE to see why"


def test_unknown_failure_suggests_the_verbose_command_for_the_node():
    failure = classify_ssh_failure(failed("first\nmystery\n"), FULL)
    assert failure.fix == "run ssh -v -p 2222 -i /keys/id_node -l alice 10.0.0.7 to see why"


# --- reverse mount: pieces -------------------------------------------------------------------------

def test_sftp_server_starts_in_the_project_and_escapes_percent():
    assert sftp_server_argv("/usr/lib/openssh/sftp-server", "/home/a/100%") == [
        "/usr/lib/openssh/sftp-server", "-e", "-d", "/home/a/100%%"]
    assert sftp_server_argv("/s", "/p", read_only=True)[-1] == "-R"


def test_sshfs_runs_in_foreground_passive_mode_without_reconnect_or_compression():
    argv = sshfs_argv("/home/a/proj", "/home/b/.enb-remote")
    assert argv == ["sshfs", "-f", ":/home/a/proj", "/home/b/.enb-remote",
                    "-o", "passive", "-o", "idmap=user"]
    assert "reconnect" not in argv and "-C" not in argv
    assert sshfs_argv("/p", "/m", passive_option="slave")[5] == "slave"
    assert sshfs_argv("/p", "/m", follow_outside_symlinks=True)[-2:] == ["-o", "no_contain_symlinks"]
    assert sshfs_argv("/p", "/m", read_only=True)[-2:] == ["-o", "ro"]


def test_dpipe_joins_the_two_commands_and_refuses_separator_arguments():
    assert dpipe_argv("dpipe", ["a", "-x"], ["b"]) == ["dpipe", "--", "a", "-x", "=", "b"]
    for token in ["=", "{=", "=}", "}="]:
        with pytest.raises(ValueError):
            dpipe_argv("dpipe", ["a", token], ["b"])


def test_jail_wraps_the_server_in_a_user_and_mount_namespace():
    argv = jailed_argv(["/s", "-d", "/p q"], "/p q", "/tmp/jail")
    assert argv[:5] == ["unshare", "--user", "--map-root-user", "--mount", "--"]
    assert argv[-6:] == ["/usr/sbin/chroot", "/tmp/jail", "/p q", "/s", "-d", "/p q"]


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
    assert pipeline[:4] == [sys.executable, "-I", "-c", mount_module._PIPELINE_GUARD]
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


def test_read_only_mount(project):
    runner = scripted_runner()
    make_mount(project, runner, read_only=True).start()
    pipeline = runner.calls[1]
    assert pipeline[pipeline.index("=") - 1] == "-R"
    assert remote_words(pipeline)[-2:] == ["-o", "ro"]


def test_confined_mount_checks_user_namespaces_and_wraps_the_server(project):
    runner = scripted_runner()
    mount = make_mount(project, runner, confine=True).start()
    assert runner.calls[0][1:] == ["--user", "--map-root-user", "--mount", "true"]
    pipeline = runner.calls[2][4:]  # after the guard
    assert pipeline[2:4] == ["/usr/bin/unshare", "--user"]
    jail = mount._jail_root
    assert jail in pipeline
    mount.stop()
    assert mount._jail_root is None
    assert not os.path.exists(jail)


def test_confined_mount_without_user_namespaces_says_how_to_fix(project):
    runner = FakeRunner()
    runner.respond("true", returncode=1, stderr="unshare: unshare failed: Operation not permitted")
    with pytest.raises(MountError, match="unprivileged user namespaces"):
        make_mount(project, runner, confine=True).start()
    assert runner.started == []


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

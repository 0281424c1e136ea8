"""The one builder of ssh command lines (enb.transport.ssh.ssh_argv, SshOptions): argv lists,
the remote command as one literal word, shared connections. Nothing here opens a connection."""
from __future__ import annotations

import shlex

import pytest

from enb.transport.cluster_csv import ClusterNode
from enb.transport.ssh import SshOptions, ssh_argv

NODE = ClusterNode("node1")
FULL = ClusterNode("10.0.0.7", ssh_user="alice", ssh_port=2222, ssh_key="/keys/id_node")


def remote_words(argv: list[str]) -> list[str]:
    """Split the remote command line the way the node's POSIX shell will."""
    assert argv[-3] == "--"
    return shlex.split(argv[-1])


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

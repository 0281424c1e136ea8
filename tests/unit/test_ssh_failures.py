"""ssh failures become a kind, what happened and what to do (enb.transport.ssh)."""
from __future__ import annotations

import pytest

from enb.transport.cluster_csv import ClusterNode
from enb.transport.runner import CommandResult
from enb.transport.ssh import SshFailureKind, classify_ssh_failure

NODE = ClusterNode("node1")
FULL = ClusterNode("10.0.0.7", ssh_user="alice", ssh_port=2222, ssh_key="/keys/id_node")


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

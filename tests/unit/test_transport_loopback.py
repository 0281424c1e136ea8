"""enb.transport against a real, throwaway sshd on 127.0.0.1: ssh quoting, failure diagnosis
and the reverse mount through the real dpipe | ssh | sshfs pipeline.

Needs root (sshd must run as root to log anybody in, and root may use /dev/fuse) and
sshd, ssh, sftp, sshfs, dpipe, fusermount, findmnt and unshare. Without them the tests are skipped,
except when the CI variable is set: there a missing tool is a failure, not a silent skip.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from enb.transport.cluster_csv import ClusterNode, current_user
from enb.transport.mount import MountError, ReverseMount, find_sftp_server
from enb.transport.ssh import NodeUnreachable, SshFailureKind, SshOptions, classify_ssh_failure, run_on_node

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)


def missing_requirements() -> list[str]:
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [] if SSHD else ["sshd"]
    missing += [tool for tool in ("ssh", "ssh-keygen", "sftp", "sshfs", "dpipe", "findmnt", "unshare")
                if shutil.which(tool) is None]
    if not (shutil.which("fusermount") or shutil.which("fusermount3")):
        missing.append("fusermount")
    if not os.path.exists("/dev/fuse"):
        missing.append("/dev/fuse")
    try:
        find_sftp_server()
    except MountError:
        missing.append("sftp-server")
    return missing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds or fail with ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling interval: sshd and sshfs offer nothing to block on


def is_mounted(path) -> bool:
    """Whether anything is mounted at ``path``, even a dead mount that cannot be stat'ed."""
    return subprocess.run(["findmnt", "-M", str(path)], capture_output=True).returncode == 0


def lazy_unmount(path) -> None:
    for tool in ("fusermount3", "fusermount"):
        if shutil.which(tool):
            if subprocess.run([tool, "-uz", str(path)], capture_output=True).returncode == 0:
                return


class Sshd:
    """A throwaway sshd on 127.0.0.1: key-only, root allowed with a key, its files in ``folder``."""

    def __init__(self, folder):
        self.folder = folder
        self.port = free_port()
        self.client_key = folder / "client_key"
        self.other_key = folder / "other_key"
        for key in (folder / "host_key", self.client_key, self.other_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        authorized = folder / "authorized_keys"
        authorized.write_text((folder / "client_key.pub").read_text())
        authorized.chmod(0o600)
        config = folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {authorized}",
            "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
            "StrictModes no",  # the key files live under /tmp, which is world-writable
            "",
        ]))
        # sshd refuses to start without its privilege separation folder.
        self.created_run_dir = not os.path.isdir("/run/sshd")
        if self.created_run_dir:
            os.makedirs("/run/sshd", mode=0o755)
        self.log = open(folder / "sshd.log", "w")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.accepts_connections, 10, "sshd to listen")
        self.options = SshOptions(connect_timeout=5, known_hosts=str(folder / "known_hosts"),
                                  ssh_config="/dev/null")
        self.node = ClusterNode("127.0.0.1", ssh_user=current_user(), ssh_port=self.port,
                                ssh_key=str(self.client_key))

    def accepts_connections(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"sshd exited: {(self.folder / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if self.created_run_dir:
            shutil.rmtree("/run/sshd", ignore_errors=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    missing = missing_requirements()
    if missing:
        reason = f"the loopback sshd test needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set: install them instead of skipping)")
        pytest.skip(reason)
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project with blank"
    folder.mkdir()
    (folder / "from_head.txt").write_text("written on the head\n")
    return folder


@pytest.fixture
def mount_point(tmp_path):
    folder = tmp_path / "node home" / ".enb-remote"
    yield folder
    if is_mounted(folder):  # a failed test must not leave a mount behind
        lazy_unmount(folder)


def processes_named(name: str) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip() == name:
                    found.append(int(entry))
        except OSError:
            continue  # ended while we looked
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def group_members(pgid: int) -> list[int]:
    """Return the live processes (not zombies) of process group ``pgid``."""
    alive = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def pipeline_processes(project) -> list[int]:
    """Return the live processes on this machine whose command line names ``project``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if str(project) in command_line(int(entry)):
            found.append(int(entry))
    return found


# --- ssh ---------------------------------------------------------------------------------------

def test_hostile_arguments_reach_the_remote_program_literally(sshd, tmp_path):
    marker = tmp_path / "injected"
    hostile = [f"; touch {marker}", f"$(touch {marker})", f"`touch {marker}`", f"a | touch {marker}",
               "it's \"quoted\"", "two\nlines", "*", "~", "-n", ""]
    result = run_on_node(sshd.node, ["printf", "[%s]\\n", *hostile], ssh_options=sshd.options, timeout=30)
    assert result.ok, result.stderr
    assert result.stdout == "".join(f"[{argument}]\n" for argument in hostile)
    assert not marker.exists()


def test_remote_status_and_streams_come_back(sshd):
    result = run_on_node(sshd.node, ["sh", "-c", "echo out; echo err >&2; exit 7"],
                         ssh_options=sshd.options, timeout=30)
    assert (result.returncode, result.stdout) == (7, "out\n")
    assert "err" in result.stderr


def test_closed_port_is_diagnosed_as_connection_refused(sshd):
    node = ClusterNode("127.0.0.1", ssh_port=free_port(), ssh_key=str(sshd.client_key))
    result = run_on_node(node, ["true"], ssh_options=sshd.options, timeout=30)
    assert classify_ssh_failure(result, node).kind is SshFailureKind.CONNECTION_REFUSED


def test_unauthorized_key_is_diagnosed_as_auth_refused(sshd):
    node = ClusterNode("127.0.0.1", ssh_port=sshd.port, ssh_key=str(sshd.other_key))
    result = run_on_node(node, ["true"], ssh_options=sshd.options, timeout=30)
    failure = classify_ssh_failure(result, node)
    assert failure.kind is SshFailureKind.AUTH_REFUSED, result.stderr
    assert f"-p {sshd.port}" in failure.fix


def test_unknown_host_key_under_strict_checking_is_diagnosed(sshd, tmp_path):
    options = SshOptions(connect_timeout=5, known_hosts=str(tmp_path / "empty_known_hosts"),
                         host_key_checking="yes", ssh_config="/dev/null")
    result = run_on_node(sshd.node, ["true"], ssh_options=options, timeout=30)
    assert classify_ssh_failure(result, sshd.node).kind is SshFailureKind.HOST_KEY_UNKNOWN, result.stderr


# --- reverse mount -----------------------------------------------------------------------------

def test_project_is_mounted_written_through_and_unmounted(sshd, project, mount_point):
    with ReverseMount(sshd.node, project, mount_point=str(mount_point), ssh_options=sshd.options,
                      timeout=20) as mount:
        assert mount.remote_path == str(mount_point)
        assert is_mounted(mount_point)
        assert (mount_point / "from_head.txt").read_text() == "written on the head\n"
        (mount_point / "results").mkdir()
        (mount_point / "results" / "from_node.txt").write_text("written on the node\n")
        assert (project / "results" / "from_node.txt").read_text() == "written on the node\n"
        # '..' at the mount's root is the node's folder, not the head project's parent.
        assert sorted(os.listdir(mount_point / "..")) == [".enb-remote"]
        pipeline = pipeline_processes(project)  # the guard, dpipe, ssh and sftp-server
        assert len(pipeline) >= 4, pipeline
    assert not is_mounted(mount_point)
    wait_for(lambda: not set(pipeline) & set(pipeline_processes(project)), 10, "the pipeline to end")
    assert sorted(os.listdir(project)) == ["from_head.txt", "results"]


def test_absolute_symlink_in_the_project_resolves_on_the_node(sshd, project, mount_point, tmp_path):
    outside = tmp_path / "datasets_outside_the_project"
    outside.mkdir()
    (outside / "corpus.txt").write_text("corpus\n")
    (project / "corpus").symlink_to(outside)
    with ReverseMount(sshd.node, project, mount_point=str(mount_point), ssh_options=sshd.options,
                      timeout=20):
        assert os.readlink(mount_point / "corpus") == str(outside)
        assert (mount_point / "corpus" / "corpus.txt").read_text() == "corpus\n"


def test_second_mount_on_a_busy_mount_point_is_refused(sshd, project, mount_point, tmp_path):
    other = tmp_path / "other project"
    other.mkdir()
    with ReverseMount(sshd.node, project, mount_point=str(mount_point), ssh_options=sshd.options,
                      timeout=20):
        with pytest.raises(MountError, match="already mounted"):
            ReverseMount(sshd.node, other, mount_point=str(mount_point), ssh_options=sshd.options,
                         timeout=20).start()
        assert (mount_point / "from_head.txt").exists()  # the first mount is untouched


def test_dead_mount_left_behind_is_replaced(sshd, project, mount_point):
    first = ReverseMount(sshd.node, project, mount_point=str(mount_point), ssh_options=sshd.options,
                         timeout=20).start()
    # Kill the node-side sshfs the hard way: the mount stays, answering "not connected".
    sshfs = [pid for pid in processes_named("sshfs") if str(mount_point) in command_line(pid)]
    assert len(sshfs) == 1
    os.kill(sshfs[0], 9)
    wait_for(lambda: not first.is_running, 10, "the pipeline to notice")
    with pytest.raises(OSError):
        os.listdir(mount_point)
    # The head "crashes": its pipeline is gone and stop() never runs.
    first._process.stop()
    first._process = None
    with ReverseMount(sshd.node, project, mount_point=str(mount_point), ssh_options=sshd.options,
                      timeout=20):
        assert (mount_point / "from_head.txt").exists()
    assert not is_mounted(mount_point)


def test_mount_of_unreachable_node_raises_node_unreachable(sshd, project, mount_point):
    node = ClusterNode("127.0.0.1", ssh_port=free_port(), ssh_key=str(sshd.client_key))
    with pytest.raises(NodeUnreachable) as info:
        ReverseMount(node, project, mount_point=str(mount_point), ssh_options=sshd.options).start()
    assert info.value.failure.kind is SshFailureKind.CONNECTION_REFUSED


_MOUNT_THEN_WAIT = """
import sys, time
from enb.transport.cluster_csv import ClusterNode
from enb.transport.mount import ReverseMount
from enb.transport.ssh import SshOptions
address, port, user, key, known_hosts, project, mount_point = sys.argv[1:]
node = ClusterNode(address, ssh_user=user, ssh_port=int(port), ssh_key=key)
options = SshOptions(connect_timeout=5, known_hosts=known_hosts, ssh_config="/dev/null")
ReverseMount(node, project, mount_point=mount_point, ssh_options=options, timeout=20).start()
print("mounted", flush=True)
time.sleep(600)
"""


def test_a_head_killed_with_sigkill_takes_its_mount_down(sshd, project, mount_point):
    node = sshd.node
    head = subprocess.Popen(
        [sys.executable, "-c", _MOUNT_THEN_WAIT, node.address, str(node.ssh_port), node.ssh_user,
         node.ssh_key, sshd.options.known_hosts, str(project), str(mount_point)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=REPO))
    try:
        assert head.stdout.readline() == "mounted\n", head.stderr.read()
        assert is_mounted(mount_point) and len(pipeline_processes(project)) >= 4
        head.kill()  # no clean-up code of the head runs
        head.wait(10)
        started = time.monotonic()
        wait_for(lambda: not is_mounted(mount_point), 10, "the node to unmount")
        wait_for(lambda: pipeline_processes(project) == [], 10, "the pipeline to end")
        assert time.monotonic() - started < 5
    finally:
        if head.poll() is None:
            head.kill()
            head.wait(10)
        head.stdout.close()
        head.stderr.close()

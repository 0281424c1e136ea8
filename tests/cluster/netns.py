"""Simulate a cluster of machines on this one, for the cluster tests.

Each simulated node is a network namespace joined by a veth pair to a bridge in
the root namespace, which carries the head's address. Inside it runs a process
tree with its own mount, pid and uts namespaces: a private /tmp and /dev/shm,
a hosts file naming every node, a hostname and an sshd of its own (see
netns_init.py). Each node has its own Linux user and home, so `~/.enb-remote`
differs per node, as it does on real machines. shared/DESIGN.md section 5
explains every piece.

Needs root. Everything the harness makes is named with the prefix `enbt-` plus
a session id and recorded before it is made (netns_sessions.py), so a later run
removes what a crashed one left behind.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import ipaddress
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import netns_sessions as sessions
from netns_init import read_mounts
from netns_sessions import PREFIX, STATE_ROOT, HarnessError, remove_leftovers, run

__all__ = ["NetnsCluster", "SimulatedNode", "NodeProcess", "Mount", "HarnessError",
           "missing_prerequisites", "remove_leftovers", "SFTP_SERVER", "SYSTEM_PYTHON"]

SSHD = "/usr/sbin/sshd"
SYSTEM_PYTHON = "/usr/bin/python3"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
NODE_INIT = Path(__file__).resolve().with_name("netns_init.py")
SSH_PORT = 22
REQUIRED_COMMANDS = (
    "ip", "unshare", "nsenter", "ssh", "ssh-keygen", "sshfs", "dpipe",
    "fusermount", "iptables", "useradd", "userdel",
)
CLUSTER_CSV_HEADER = ("address", "ssh_user", "ssh_port", "local_ssh_file", "cpu_limit")


@dataclass(frozen=True)
class SimulatedNode:
    """One simulated machine, as the head sees it."""

    name: str  # its hostname; resolves inside every node, not on the head
    address: str
    ssh_user: str
    ssh_port: int
    key_path: Path  # the head's private key, authorized for ssh_user
    home: Path
    namespace: str  # `ip netns` name


@dataclass(frozen=True)
class NodeProcess:
    """A process running inside a node's pid namespace."""

    pid: int  # as seen from the head (the root pid namespace)
    node_pid: int  # as seen inside the node
    user: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Mount:
    """An entry of a node's mount table."""

    source: str
    target: str
    fstype: str


def missing_prerequisites() -> list[str]:
    """Return why the harness cannot run here (empty when it can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("not running as root")
    missing += [f"command {name!r} not found" for name in REQUIRED_COMMANDS
                if shutil.which(name) is None]
    for path in (SSHD, SFTP_SERVER, SYSTEM_PYTHON, "/dev/fuse"):
        if not os.path.exists(path):
            missing.append(f"{path} not found")
    return missing


def _die_with_parent() -> None:
    """Make the child get SIGKILL when the harness process dies, even by SIGKILL.

    Then a killed test run leaves no node running; the next run removes the rest.
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


# --- the cluster -------------------------------------------------------------------

class NetnsCluster:
    """Run `node_count` simulated nodes, each reachable by ssh from the head.

    Use as a context manager, or call start() and close(). `venv` is a virtual
    environment the nodes' ssh sessions find first on PATH (see prepare_node_venv).
    """

    def __init__(self, node_count: int = 2, venv: Path | None = None):
        if not 1 <= node_count <= 250:  # one /24 holds the head, the nodes and the gateway
            raise ValueError(f"node_count must be 1 to 250, not {node_count}")
        self.node_count = node_count
        self.venv = Path(venv) if venv else None
        self.session = secrets.token_hex(3)
        self.workdir = STATE_ROOT / self.session
        self.key_path = self.workdir / "id_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.bridge = f"{PREFIX}{self.session}"
        self.head_address: str | None = None
        self._subnet: ipaddress.IPv4Network | None = None
        self.nodes: list[SimulatedNode] = []
        self._state: dict | None = None
        self._inits: dict[str, subprocess.Popen] = {}  # node name -> `ip netns exec`
        self._pid1: dict[str, tuple[int, int]] = {}  # node name -> (pid, start time)

    @property
    def venv_python(self) -> Path | None:
        """Return the interpreter the nodes run, which head-side cluster code must use too."""
        return self.venv / "bin" / "python" if self.venv else None

    def __enter__(self) -> NetnsCluster:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- lifecycle

    def start(self) -> None:
        """Create the network, users, keys and nodes; return when every sshd listens."""
        missing = missing_prerequisites()
        if missing:
            raise HarnessError("cannot simulate a cluster: " + "; ".join(missing))
        try:
            with sessions.locked():
                self._begin_session()
            self._create_nodes()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Remove everything start() made; safe to call twice or after a failed start."""
        if self._state is None:
            return
        for node in self.nodes:
            self._kill_init(node)
        with sessions.locked():
            # Another live session still needs /dev/fuse open; the last one restores it.
            others_live = sessions.live_states(excluding=self.session)
            sessions.remove_session(self._state, restore_fuse=not others_live)
        self._state = None

    def _begin_session(self) -> None:
        """Record the session, pick a free subnet, make the bridge and open /dev/fuse."""
        sessions.remove_leftovers_locked()
        subnet = _free_subnet()
        self.head_address = str(next(subnet.hosts()))
        self.workdir.mkdir(mode=0o755)
        self._state = sessions.new_state(self.session, self.workdir, links=[self.bridge])
        sessions.save_state(self._state)
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{self.head_address}/{subnet.prefixlen}", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        # /dev/fuse is 0600 without udev; node users need it for sshfs.
        os.chmod("/dev/fuse", 0o666)
        self._subnet = subnet
        # sshd's privilege separation directory; systemd makes it when it starts sshd.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def _create_nodes(self) -> None:
        hosts = list(self._subnet.hosts())
        # Nodes route everything to an address nobody owns: no packet leaves, yet
        # the UDP connect that ray uses to find its own address succeeds.
        gateway = str(hosts[-1])
        self.nodes = [self._describe_node(i, str(hosts[i])) for i in range(1, self.node_count + 1)]
        self._state["namespaces"] = [n.namespace for n in self.nodes]
        self._state["links"] += [n.namespace for n in self.nodes]
        self._state["users"] = [n.ssh_user for n in self.nodes]
        sessions.save_state(self._state)  # before creating them, so a crash leaks nothing

        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"enb-test-{self.session}",
             "-f", str(self.key_path)])
        self._write_hosts_files()
        host_keys = []
        for node in self.nodes:
            self._create_network(node, gateway)
            self._create_user(node)
            host_keys.append(self._configure_sshd(node))
        self.known_hosts.write_text("".join(
            f"{node.name},{node.address} {key}" for node, key in zip(self.nodes, host_keys)))
        for node in self.nodes:
            self._start_init(node)
        for node in self.nodes:
            self._wait_for_sshd(node)

    def _describe_node(self, index: int, address: str) -> SimulatedNode:
        name = f"{PREFIX}{self.session}-{index}"
        return SimulatedNode(name=f"node{index}", address=address, ssh_user=name,
                             ssh_port=SSH_PORT, key_path=self.key_path,
                             home=Path("/home") / name, namespace=name)

    def _write_hosts_files(self) -> None:
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback",
                 f"{self.head_address} {PREFIX}head {socket.gethostname()}"]
        lines += [f"{node.address} {node.name}" for node in self.nodes]
        (self.workdir / "hosts").write_text("\n".join(lines) + "\n")
        # Nothing listens there: lookups of unknown names fail at once instead of
        # waiting for a DNS server the namespace cannot reach.
        (self.workdir / "resolv.conf").write_text("nameserver 127.0.0.1\n")

    def _create_network(self, node: SimulatedNode, gateway: str) -> None:
        ns, peer = node.namespace, node.namespace + "p"
        prefix = self._subnet.prefixlen
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", ns, "type", "veth", "peer", "name", peer])
        run(["ip", "link", "set", peer, "netns", ns])
        run(["ip", "-n", ns, "link", "set", peer, "name", "eth0"])
        run(["ip", "-n", ns, "addr", "add", f"{node.address}/{prefix}", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "route", "add", "default", "via", gateway])
        run(["ip", "link", "set", ns, "master", self.bridge, "up"])

    def _create_user(self, node: SimulatedNode) -> None:
        # '*' instead of useradd's locked '!': with UsePAM no, sshd refuses locked
        # accounts even for key logins.
        run(["useradd", "--create-home", "--home-dir", str(node.home), "--shell", "/bin/bash",
             "--comment", f"enb test cluster {self.session}", "--password", "*", node.ssh_user])
        user = pwd.getpwnam(node.ssh_user)
        ssh_dir = node.home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(self.key_path.with_suffix(".pub").read_text())
        keys.chmod(0o600)
        for path in (ssh_dir, keys):
            os.chown(path, user.pw_uid, user.pw_gid)

    def _configure_sshd(self, node: SimulatedNode) -> str:
        """Write the node's sshd config and host key; return the public host key."""
        node_dir = self.workdir / node.name
        node_dir.mkdir(mode=0o700)
        host_key = node_dir / "ssh_host_ed25519_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", str(host_key)])
        path = "/usr/bin:/bin" if self.venv is None else f"{self.venv}/bin:/usr/bin:/bin"
        config = [
            f"ListenAddress {node.address}", f"Port {node.ssh_port}", f"HostKey {host_key}",
            f"PidFile {node_dir / 'sshd.pid'}", "UsePAM no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys", f"AllowUsers {node.ssh_user}",
            "PermitRootLogin no", "X11Forwarding no", "PrintMotd no",
            # Non-interactive sessions read no profile: this is how `ssh node ray`
            # finds the venv's ray.
            f"SetEnv PATH={path}", f"Subsystem sftp {SFTP_SERVER}",
        ]
        (node_dir / "sshd_config").write_text("\n".join(config) + "\n")
        run([SSHD, "-t", "-f", str(node_dir / "sshd_config")])
        return host_key.with_suffix(".pub").read_text()

    def _start_init(self, node: SimulatedNode) -> None:
        node_dir = self.workdir / node.name
        argv = ["ip", "netns", "exec", node.namespace,
                "unshare", "--uts", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                "--", SYSTEM_PYTHON, str(NODE_INIT),
                "--hostname", node.name, "--hosts", str(self.workdir / "hosts"),
                "--resolv", str(self.workdir / "resolv.conf"),
                "--sshd-config", str(node_dir / "sshd_config"),
                "--sshd-log", str(node_dir / "sshd.log")]
        with open(node_dir / "init.log", "wb") as log:
            # `ip netns exec` execs unshare, so this pid is unshare's; its only
            # child is the node's pid 1.
            self._inits[node.name] = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)

    def _wait_for_sshd(self, node: SimulatedNode) -> None:
        init = self._inits[node.name]

        def child_of_unshare():
            self._check_init(node)
            children = Path(f"/proc/{init.pid}/task/{init.pid}/children")
            with contextlib.suppress(OSError):
                return [int(pid) for pid in children.read_text().split()]

        pid1 = sessions.wait_until(child_of_unshare, 10, f"{node.name}'s pid 1")[0]
        self._pid1[node.name] = (pid1, sessions.start_time(pid1))

        sessions.wait_until(lambda: self._check_init(node) or self._accepts(node), 15,
                            f"sshd on {node.name}")

    def _check_init(self, node: SimulatedNode) -> None:
        if self._inits[node.name].poll() is not None:
            log = (self.workdir / node.name / "init.log").read_text(errors="replace")
            raise HarnessError(f"{node.name} exited while starting: {log.strip()[-2000:]}")

    def _kill_init(self, node: SimulatedNode) -> None:
        init = self._inits.get(node.name)
        if init is None:
            return
        pid1 = self._pid1.get(node.name)
        if pid1 and sessions.is_running(*pid1):
            os.kill(pid1[0], signal.SIGKILL)  # ends the whole pid namespace
        else:
            init.kill()  # unshare --kill-child passes it on to pid 1
        try:
            init.wait(timeout=10)  # unshare reaps pid 1, then exits
        except subprocess.TimeoutExpired:
            init.kill()
            init.wait(timeout=10)

    # --- using the nodes

    def node(self, name: str) -> SimulatedNode:
        """Return the node called name."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r}; nodes are {[n.name for n in self.nodes]}")

    def ssh_argv(self, node: SimulatedNode) -> list[str]:
        """Return the ssh command, up to the destination, that logs into node as its user."""
        return ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-i", str(node.key_path), "-p", str(node.ssh_port), "-l", node.ssh_user,
                node.address]

    def ssh(self, node: SimulatedNode, argv: Sequence[str], *, timeout: float = 30,
            input: str | None = None, check: bool = False) -> subprocess.CompletedProcess:
        """Run argv on node as its user over ssh; return the completed process (text)."""
        return _run_text(self.ssh_argv(node) + ["--", shlex.join(argv)], timeout, input, check)

    def logins(self, node: SimulatedNode) -> int:
        """Return how many ssh connections node's sshd has accepted so far (its log says)."""
        log = self.workdir / node.name / "sshd.log"
        return log.read_text(errors="replace").count("Accepted publickey for ")

    def exec_in(self, node: SimulatedNode, argv: Sequence[str], *, timeout: float = 30,
                input: str | None = None, check: bool = False) -> subprocess.CompletedProcess:
        """Run argv as root inside all of node's namespaces; return the completed process."""
        pid1 = self._live_pid1(node)
        return _run_text(["nsenter", "--target", str(pid1), "--mount", "--uts", "--pid", "--net",
                          "--", *argv], timeout, input, check)

    def is_alive(self, node: SimulatedNode) -> bool:
        """Tell whether node's pid 1 still runs."""
        pid1 = self._pid1.get(node.name)
        return bool(pid1) and sessions.is_running(*pid1)

    def kill_node(self, node: SimulatedNode) -> None:
        """Kill node's pid 1: every process on it dies and its mounts go (the node died)."""
        self._kill_init(node)

    def stop_sshd(self, node: SimulatedNode) -> None:
        """Stop node's sshd listener; sessions already open and the node go on."""
        pidfile = self.workdir / node.name / "sshd.pid"
        node_pid = int(pidfile.read_text())  # written inside the node: a node pid
        for process in self.processes(node):
            if process.node_pid == node_pid:
                os.kill(process.pid, signal.SIGTERM)
        sessions.wait_until(lambda: not self._accepts(node), 10, f"sshd on {node.name} to stop")

    def start_sshd(self, node: SimulatedNode) -> None:
        """Start node's sshd again after stop_sshd()."""
        node_dir = self.workdir / node.name
        # Without -D sshd daemonizes; the node's init adopts and reaps it.
        self.exec_in(node, [SSHD, "-f", str(node_dir / "sshd_config"),
                            "-E", str(node_dir / "sshd.log")], check=True)
        sessions.wait_until(lambda: self._accepts(node), 10, f"sshd on {node.name}")

    def _accepts(self, node: SimulatedNode) -> bool:
        with contextlib.suppress(OSError):
            socket.create_connection((node.address, node.ssh_port), timeout=0.5).close()
            return True
        return False

    def block_port(self, node: SimulatedNode, port: int, protocol: str = "tcp") -> None:
        """Drop packets arriving at node's port (a firewall on that machine)."""
        self._iptables(node, "-I", port, protocol)

    def unblock_port(self, node: SimulatedNode, port: int, protocol: str = "tcp") -> None:
        """Undo block_port()."""
        self._iptables(node, "-D", port, protocol)

    def _iptables(self, node: SimulatedNode, action: str, port: int, protocol: str) -> None:
        run(["ip", "netns", "exec", node.namespace, "iptables", "-w", "5", action, "INPUT",
             "-p", protocol, "--dport", str(port), "-j", "DROP"])

    def processes(self, node: SimulatedNode) -> list[NodeProcess]:
        """List the processes running in node's pid namespace (empty once it died)."""
        if not self.is_alive(node):
            return []
        pid1 = self._pid1[node.name][0]
        namespace = os.readlink(f"/proc/{pid1}/ns/pid")
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, KeyError, ValueError):
                if os.readlink(f"{entry.path}/ns/pid") != namespace:
                    continue
                status = Path(entry.path, "status").read_text()
                fields = dict(line.split(":\t", 1) for line in status.splitlines()
                              if ":\t" in line)
                argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")[:-1]
                found.append(NodeProcess(
                    pid=int(entry.name), node_pid=int(fields["NSpid"].split()[-1]),
                    user=_user_name(int(fields["Uid"].split()[0])),
                    argv=tuple(arg.decode(errors="replace") for arg in argv)))
        return found

    def mounts(self, node: SimulatedNode, fstype: str | None = "fuse") -> list[Mount]:
        """List node's mounts of type fstype or its subtypes ("fuse": fuse.sshfs too).

        fstype None lists all of them. Empty once the node died.
        """
        if not self.is_alive(node):
            return []
        # A process's mounts file shows its own mount namespace: no need to enter it.
        mounts = [Mount(*row) for row in read_mounts(f"/proc/{self._pid1[node.name][0]}/mounts")]
        return [m for m in mounts
                if fstype is None or m.fstype == fstype or m.fstype.startswith(fstype + ".")]

    def write_cluster_csv(self, path: Path, nodes: Iterable[SimulatedNode] | None = None,
                          extra_rows: Iterable[Sequence | str] = (), cpu_limit: int = 1) -> Path:
        """Write an enb_cluster.csv naming nodes (all by default); return its path.

        extra_rows are appended as they are: a sequence is a CSV row, a str a raw
        line (a comment or a malformed row, for parser tests).
        """
        path = Path(path)
        with open(path, "w", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(CLUSTER_CSV_HEADER)
            for node in self.nodes if nodes is None else nodes:
                writer.writerow([node.address, node.ssh_user, node.ssh_port, node.key_path,
                                 cpu_limit])
            for row in extra_rows:
                if isinstance(row, str):
                    file.write(row + "\n")
                else:
                    writer.writerow(row)
        return path

    def _live_pid1(self, node: SimulatedNode) -> int:
        if not self.is_alive(node):
            raise HarnessError(f"{node.name} is not running")
        return self._pid1[node.name][0]


def _run_text(argv: list[str], timeout: float, input: str | None,
              check: bool) -> subprocess.CompletedProcess:
    # Without input, stdin is /dev/null: ssh must not read the terminal of whoever runs the tests.
    return subprocess.run(argv, input=input, stdin=subprocess.DEVNULL if input is None else None,
                          capture_output=True, text=True, timeout=timeout, check=check)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a node user being deleted
        return str(uid)


def _free_subnet() -> ipaddress.IPv4Network:
    """Return a /24 in 10.0.0.0/8 that no address, route or name server here uses."""
    used = []
    for argv in (["ip", "-4", "-o", "addr"], ["ip", "-4", "route", "show", "table", "all"]):
        for word in run(argv).stdout.split():
            with contextlib.suppress(ValueError):
                used.append(ipaddress.ip_network(word, strict=False))
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            if line.startswith("nameserver"):
                with contextlib.suppress(ValueError, IndexError):
                    used.append(ipaddress.ip_network(line.split()[1]))
    for third in range(200, 256):
        candidate = ipaddress.ip_network(f"10.213.{third}.0/24")
        if not any(candidate.overlaps(net) for net in used if net.version == 4
                   and net.prefixlen > 0):
            return candidate
    raise HarnessError("no free /24 left in 10.213.200.0-10.213.255.0")



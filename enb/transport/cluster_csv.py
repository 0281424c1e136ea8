"""Parse and validate a cluster configuration CSV (``enb_cluster.csv``) into node descriptions.

The file has a header and one row per remote node::

    address,ssh_user,ssh_port,local_ssh_file,cpu_limit
    192.168.1.3,,22,~/.ssh/id_rsa,
    # a comment: lines starting with '#' (after optional blanks) are ignored
    node7.lab,alice,2222,,4

``address``, ``ssh_user``, ``ssh_port`` and ``local_ssh_file`` are required header columns,
``cpu_limit`` is optional; the header fixes the column order. A blank cell takes the default:
the current user, port 22, ssh's default key, no CPU limit (a ``cpu_limit`` <= 0 also means no
limit). Files saved by spreadsheets work: UTF-8 byte order mark, CRLF line ends, quoted cells,
blank trailing rows and cells.

A node is data, not behaviour: nothing here runs ssh. Every value that later reaches an ssh
command line is checked here, and values that a shell could misread (blanks, ``;|&$`<>()``,
quotes, newlines, a leading ``-``) are rejected rather than escaped, so they never reach one.
"""
from __future__ import annotations

import csv
import dataclasses
import getpass
import io
import ipaddress
import os
import re
from pathlib import Path
from typing import Iterator

#: Columns of the file, in the order the seed documentation lists them.
COLUMNS = ("address", "ssh_user", "ssh_port", "local_ssh_file", "cpu_limit")
REQUIRED_COLUMNS = COLUMNS[:4]
DEFAULT_SSH_PORT = 22

# Host names, IPv4 and IPv6 addresses (with an optional %zone). No blanks, no shell syntax.
_ADDRESS_RE = re.compile(r"[A-Za-z0-9_.:%-]{1,253}")
# POSIX portable user names, plus '@' for directory-service accounts (user@domain).
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,255}")
_DIGITS_RE = re.compile(r"-?[0-9]+")


class ClusterConfigError(ValueError):
    """A cluster configuration file cannot be used; the message says where and what to do.

    The message reads ``PATH:LINE: field 'VALUE' problem; what to do``. The parts are also
    available as attributes (``line`` is None for problems with the file as a whole).
    """

    def __init__(self, path: str | os.PathLike, line: int | None, field: str, value: str,
                 problem: str, fix: str):
        where = f"{os.fspath(path)}:{line}" if line is not None else os.fspath(path)
        super().__init__(f"{where}: {field} {value!r} {problem}; {fix}")
        self.path = os.fspath(path)
        self.line = line
        self.field = field
        self.value = value


def current_user() -> str:
    """Return the name of the local user, as ssh itself finds it (no terminal needed)."""
    try:
        import pwd  # noqa: PLC0415 -- Unix only
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no pwd module (Windows) or a uid without an entry
        return getpass.getuser()


def address_problem(address: str) -> str | None:
    """Return why ``address`` is not a plausible host name or IP address, or None."""
    if not address:
        return "is empty"
    if "@" in address:
        return "contains '@'"
    if address.startswith(("-", ".")):
        return "starts with '-' or '.'"
    if not _ADDRESS_RE.fullmatch(address):
        return "is not a host name or IP address"
    if ":" in address:
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return "contains ':' but is not an IPv6 address"
    return None


def user_problem(user: str) -> str | None:
    """Return why ``user`` is not a plausible login name, or None."""
    if user.startswith("-"):
        return "starts with '-'"
    if not _USER_RE.fullmatch(user):
        return "is not a plausible user name"
    return None


def key_path_problem(key: str) -> str | None:
    """Return why ssh could not use ``key`` given with ``-i``, or None.

    ssh expands ``%`` tokens and ``${VAR}`` in identity file names after checking that the
    file exists, so such a name can never work, escaped or not.
    """
    if "%" in key or "${" in key:
        return "contains '%' or '${', which ssh expands in key file names"
    return None


def _canonical_address(address: str) -> str:
    """Return ``address`` lower-cased, IPv6 written in its compressed form (for duplicates)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address.lower()


@dataclasses.dataclass(frozen=True)
class ClusterNode:
    """One remote node of the cluster, as described in the configuration file.

    ``ssh_user`` None means the current local user (ssh's own default); ``ssh_key`` None
    means ssh's default keys; ``cpu_limit`` None means no limit. ``line`` is the line of the
    configuration file the node comes from (0 when built in code); it takes no part in
    comparisons.
    """
    address: str
    ssh_user: str | None = None
    ssh_port: int = DEFAULT_SSH_PORT
    ssh_key: str | None = None
    cpu_limit: int | None = None
    line: int = dataclasses.field(default=0, compare=False)

    def __post_init__(self):
        # Also for nodes built in code: nothing unchecked may reach an ssh command line.
        if self.address.startswith("[") and self.address.endswith("]"):
            object.__setattr__(self, "address", self.address[1:-1])
        problem = address_problem(self.address)
        if problem:
            raise ValueError(f"address {self.address!r} {problem}")
        if self.ssh_user is not None and user_problem(self.ssh_user):
            raise ValueError(f"ssh_user {self.ssh_user!r} {user_problem(self.ssh_user)}")
        if (isinstance(self.ssh_port, bool) or not isinstance(self.ssh_port, int)
                or not 1 <= self.ssh_port <= 65535):
            raise ValueError(f"ssh_port {self.ssh_port!r} is not a port number (1-65535)")
        if self.ssh_key is not None:
            problem = key_path_problem(self.ssh_key) or (None if self.ssh_key else "is empty")
            if problem:
                raise ValueError(f"ssh_key {self.ssh_key!r} {problem}")
        if self.cpu_limit is not None:
            if isinstance(self.cpu_limit, bool) or not isinstance(self.cpu_limit, int):
                raise ValueError(f"cpu_limit {self.cpu_limit!r} is not a whole number")
            if self.cpu_limit <= 0:
                object.__setattr__(self, "cpu_limit", None)

    @property
    def login_user(self) -> str:
        """Return the user ssh logs in as: ``ssh_user``, or the current local user."""
        return self.ssh_user if self.ssh_user is not None else current_user()

    @property
    def name(self) -> str:
        """Return ``[user@]address[:port]`` for messages and reports."""
        user = f"{self.ssh_user}@" if self.ssh_user else ""
        if self.ssh_port == DEFAULT_SSH_PORT:
            return f"{user}{self.address}"
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{user}{host}:{self.ssh_port}"

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """The nodes listed in one cluster configuration file (possibly none)."""
    path: Path
    nodes: tuple[ClusterNode, ...] = ()

    def __iter__(self) -> Iterator[ClusterNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


class _CommentFilter:
    """Feed physical lines to csv.reader, dropping comment and blank lines between records.

    A line is dropped only when the reader asks for the first line of a record, so the
    continuation of a quoted cell that happens to start with '#' is kept. ``record_line`` is
    the physical line on which the record being read started.
    """

    def __init__(self, text: str):
        self._lines = io.StringIO(text, newline="")
        self.at_record_start = True
        self.record_line = 0
        self.text = ""  # the last physical line handed out, for error messages
        self._line = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        while True:
            line = self._lines.readline()
            if not line:
                raise StopIteration
            self._line += 1
            if not self.at_record_start:
                self.text = line
                return line
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            self.at_record_start = False
            self.record_line = self._line
            self.text = line
            return line


def _records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, stripped cells) of every record that is not a comment or blank."""
    lines = _CommentFilter(text)
    reader = csv.reader(lines, strict=True, skipinitialspace=True)
    while True:
        lines.at_record_start = True
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ClusterConfigError(path, lines.record_line or 1, "line", lines.text.rstrip("\r\n"),
                                     f"is not valid CSV ({error})",
                                     "fix the quoting or save the file again as CSV") from None
        cells = [cell.strip() for cell in row]
        if any(cells):  # rows of empty cells are what spreadsheets leave after the data
            yield lines.record_line, cells


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ClusterConfigError(path, None, "file", str(path), f"cannot be read ({error.strerror})",
                                 "check the path given as the cluster configuration") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ClusterConfigError(path, line, "text", data[error.start:error.end].hex(),
                                 "is not UTF-8", "save the file as 'CSV UTF-8'") from None


def _parse_header(path: Path, line: int, cells: list[str]) -> list[str]:
    names = [cell.lower() for cell in cells]
    shown = ",".join(cells)
    expected = ",".join(REQUIRED_COLUMNS) + "[,cpu_limit]"
    if len(cells) == 1 and (";" in cells[0] or "\t" in cells[0]):
        raise ClusterConfigError(path, line, "header", shown, "is not separated by commas",
                                 f"save the file with ',' as separator: {expected}")
    if "address" not in names:
        raise ClusterConfigError(path, line, "header", shown, "lacks the column 'address'",
                                 f"make the first line the header {expected}")
    named = [name for name in names if name]
    unknown = [name for name in named if name not in COLUMNS]
    if unknown:
        raise ClusterConfigError(path, line, "header", shown,
                                 f"has unknown column(s) {', '.join(map(repr, unknown))}",
                                 f"use only the columns {', '.join(COLUMNS)}")
    repeated = sorted({name for name in named if named.count(name) > 1})
    if repeated:
        raise ClusterConfigError(path, line, "header", shown,
                                 f"repeats column(s) {', '.join(map(repr, repeated))}",
                                 "keep one of each")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise ClusterConfigError(path, line, "header", shown,
                                 f"lacks the column(s) {', '.join(map(repr, missing))}",
                                 f"use the header {expected} (cells may be left blank)")
    return names


def _parse_int(path, line, field, value, low, high, fix) -> int:
    if not _DIGITS_RE.fullmatch(value):
        raise ClusterConfigError(path, line, field, value, "is not a whole number", fix)
    number = int(value)
    if low is not None and not low <= number <= high:
        raise ClusterConfigError(path, line, field, value, f"is not between {low} and {high}", fix)
    return number


def _parse_key(path: Path, line: int, value: str) -> str:
    key = os.path.expanduser(value)
    if not os.path.isabs(key):  # relative to the configuration file, not to wherever enb runs
        key = os.path.join(os.path.dirname(os.path.abspath(path)), key)
    key = os.path.normpath(key)
    fix = "give the path of an existing private key, or leave the cell blank for ssh's default"
    problem = key_path_problem(key)
    if problem:
        raise ClusterConfigError(path, line, "local_ssh_file", value, problem, "rename the key file")
    if not os.path.exists(key):
        raise ClusterConfigError(path, line, "local_ssh_file", value, f"does not exist ({key})", fix)
    if not os.path.isfile(key):
        raise ClusterConfigError(path, line, "local_ssh_file", value, f"is not a file ({key})", fix)
    if not os.access(key, os.R_OK):
        raise ClusterConfigError(path, line, "local_ssh_file", value, f"is not readable ({key})",
                                 "make the key readable by the user running enb")
    # ssh ignores a private key of ours that others can read ("UNPROTECTED PRIVATE KEY FILE");
    # a .pub file selects a key held by ssh-agent and may be world-readable.
    stat = os.stat(key)
    if (not key.endswith(".pub") and hasattr(os, "getuid") and stat.st_uid == os.getuid()
            and stat.st_mode & 0o077):
        raise ClusterConfigError(path, line, "local_ssh_file", value,
                                 "can be read by other users, so ssh will refuse it",
                                 f"run: chmod 600 {key}")
    return key


def _parse_node(path: Path, line: int, row: dict[str, str]) -> ClusterNode:
    address = row.get("address", "")
    if not address:
        raise ClusterConfigError(path, line, "address", address, "is empty",
                                 "give the node's host name or IP address, or comment the line out with '#'")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    problem = address_problem(address)
    if problem:
        fix = ("put the user in the ssh_user column" if "@" in address
               else "give only a host name or IP address (no blanks, quotes or shell characters)")
        raise ClusterConfigError(path, line, "address", row["address"], problem, fix)

    user = row.get("ssh_user") or None
    if user is not None and user_problem(user):
        raise ClusterConfigError(path, line, "ssh_user", user, user_problem(user),
                                 "give a login name (letters, digits, '.', '_', '-', '@') "
                                 "or leave it blank for the current user")

    port = DEFAULT_SSH_PORT
    if row.get("ssh_port"):
        port = _parse_int(path, line, "ssh_port", row["ssh_port"], 1, 65535,
                          f"give a port number from 1 to 65535, or leave it blank for {DEFAULT_SSH_PORT}")

    key = _parse_key(path, line, row["local_ssh_file"]) if row.get("local_ssh_file") else None

    cpu_limit = None
    if row.get("cpu_limit"):
        cpu_limit = _parse_int(path, line, "cpu_limit", row["cpu_limit"], None, None,
                               "give a whole number of CPUs, or leave it blank (or <= 0) for no limit")
        cpu_limit = cpu_limit if cpu_limit > 0 else None

    return ClusterNode(address=address, ssh_user=user, ssh_port=port, ssh_key=key,
                       cpu_limit=cpu_limit, line=line)


def load_cluster_config(path: str | os.PathLike) -> ClusterConfig:
    """Read and validate the cluster configuration file at ``path``.

    Raise :class:`ClusterConfigError` naming the file, line, field and value of the first
    problem found. An empty or header-only file gives a configuration with no nodes; whether
    that is acceptable is the caller's decision.
    """
    path = Path(path)
    text = _read_text(path)
    records = _records(path, text)
    try:
        header_line, header_cells = next(records)
    except StopIteration:
        return ClusterConfig(path=path, nodes=())
    names = _parse_header(path, header_line, header_cells)

    nodes: list[ClusterNode] = []
    seen: dict[tuple[str, int, str], int] = {}
    for line, cells in records:
        extra = [cell for name, cell in zip(names, cells) if not name and cell]
        extra += [cell for cell in cells[len(names):] if cell]
        if extra:
            raise ClusterConfigError(path, line, "cell", extra[0], "is outside the header's columns",
                                     "remove it, or fix the number of commas on this line")
        row = {name: cell for name, cell in zip(names, cells) if name}
        node = _parse_node(path, line, row)
        identity = (_canonical_address(node.address), node.ssh_port, node.login_user)
        if identity in seen:
            raise ClusterConfigError(path, line, "address", node.address,
                                     f"duplicates line {seen[identity]} (same address, port and user)",
                                     "remove one of the two lines")
        seen[identity] = line
        nodes.append(node)
    return ClusterConfig(path=path, nodes=tuple(nodes))

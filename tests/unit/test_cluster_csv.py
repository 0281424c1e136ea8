"""Parsing and validation of the cluster configuration CSV (enb.transport.cluster_csv)."""
from __future__ import annotations

import os

import pytest

from enb.transport.cluster_csv import (ClusterConfig, ClusterConfigError, ClusterNode,
                                       current_user, load_cluster_config)

HEADER = "address,ssh_user,ssh_port,local_ssh_file,cpu_limit\n"
SEED_HEADER = "address,ssh_user,ssh_port,local_ssh_file\n"


@pytest.fixture
def key(tmp_path):
    """A private key file with the permissions ssh accepts."""
    path = tmp_path / "id_node"
    path.write_text("not really a key\n")
    path.chmod(0o600)
    return path


def write(tmp_path, text: str | bytes, name="enb_cluster.csv"):
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, newline="")
    else:
        path.write_bytes(text)
    return path


def load(tmp_path, text):
    return load_cluster_config(write(tmp_path, text))


def error_of(tmp_path, text) -> ClusterConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ClusterConfigError) as info:
        load_cluster_config(path)
    return info.value


# --- valid files --------------------------------------------------------------------------

def test_seed_example_without_cpu_limit_column(tmp_path, key):
    config = load(tmp_path, SEED_HEADER + f"192.168.1.3,,22,{key}\n")
    assert config == ClusterConfig(path=tmp_path / "enb_cluster.csv", nodes=(
        ClusterNode(address="192.168.1.3", ssh_user=None, ssh_port=22, ssh_key=str(key)),))
    assert config.nodes[0].line == 2
    assert config.nodes[0].cpu_limit is None


def test_blank_cells_take_defaults(tmp_path):
    (node,) = load(tmp_path, HEADER + "node1,,,,\n").nodes
    assert (node.ssh_user, node.ssh_port, node.ssh_key, node.cpu_limit) == (None, 22, None, None)


def test_blank_user_means_current_user_without_os_getlogin(tmp_path, monkeypatch):
    def no_terminal():
        raise OSError("no controlling terminal")
    monkeypatch.setattr(os, "getlogin", no_terminal)
    (node,) = load(tmp_path, HEADER + "node1,,,,\n").nodes
    assert node.login_user == current_user() != ""


def test_all_fields_given(tmp_path, key):
    (node,) = load(tmp_path, HEADER + f"node7.lab,alice,2222,{key},4\n").nodes
    assert node == ClusterNode("node7.lab", "alice", 2222, str(key), 4)
    assert node.name == "alice@node7.lab:2222"


@pytest.mark.parametrize("value", ["0", "-1", "-16"])
def test_cpu_limit_zero_or_negative_means_no_limit(tmp_path, value):
    (node,) = load(tmp_path, HEADER + f"node1,,,,{value}\n").nodes
    assert node.cpu_limit is None


def test_columns_in_any_order_and_any_case(tmp_path, key):
    text = f"CPU_limit,Local_SSH_File,ssh_port,ssh_user,Address\n3,{key},2200,bob,node1\n"
    (node,) = load(tmp_path, text).nodes
    assert node == ClusterNode("node1", "bob", 2200, str(key), 3)


def test_comment_lines_are_ignored_also_after_blanks(tmp_path):
    text = ("# the cluster\n" + HEADER + "#node0,,,,\n" + "node1,,,,\n"
            + "   # node2,,,,\n" + "\t#node3\n" + "node4,,,,\n")
    config = load(tmp_path, text)
    assert [(n.address, n.line) for n in config] == [("node1", 4), ("node4", 7)]


def test_comment_with_unbalanced_quote_is_ignored(tmp_path):
    config = load(tmp_path, HEADER + '# say "hi\nnode1,,,,\n')
    assert [n.address for n in config] == ["node1"]


def test_spreadsheet_file_with_bom_crlf_quotes_and_trailing_empties(tmp_path, key):
    text = ('\ufeff"address","ssh_user","ssh_port","local_ssh_file","cpu_limit",,\r\n'
            f'"10.0.0.1","","22","{key}","4",,\r\n'
            '"node-2","bob",,,"-1",,\r\n'
            ',,,,,,\r\n'
            ',,,,,,\r\n'
            '\r\n')
    config = load(tmp_path, text.encode("utf-8"))
    assert config.nodes == (ClusterNode("10.0.0.1", None, 22, str(key), 4),
                            ClusterNode("node-2", "bob", 22, None, None))
    assert [n.line for n in config] == [2, 3]


def test_short_rows_take_defaults_for_missing_cells(tmp_path):
    (node,) = load(tmp_path, HEADER + "node1\n").nodes
    assert node == ClusterNode("node1")


def test_blanks_around_cells_are_stripped(tmp_path):
    (node,) = load(tmp_path, HEADER + "  node1 , bob ,  2222 , , 2 \n").nodes
    assert node == ClusterNode("node1", "bob", 2222, None, 2)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", HEADER, SEED_HEADER + "# x\n\n"])
def test_empty_or_header_only_file_has_zero_nodes(tmp_path, text):
    config = load(tmp_path, text)
    assert config.nodes == () and len(config) == 0


def test_tilde_in_key_path_is_expanded(tmp_path, monkeypatch, key):
    monkeypatch.setenv("HOME", str(tmp_path))
    (node,) = load(tmp_path, HEADER + f"node1,,,~/{key.name},\n").nodes
    assert node.ssh_key == str(key)


def test_relative_key_path_is_relative_to_the_csv_file(tmp_path, monkeypatch, key):
    monkeypatch.chdir("/")
    (node,) = load(tmp_path, HEADER + f"node1,,,{key.name},\n").nodes
    assert node.ssh_key == str(key)


def test_public_key_file_that_selects_an_agent_key_may_be_world_readable(tmp_path):
    pub = tmp_path / "id.pub"
    pub.write_text("ssh-ed25519 AAAA x\n")
    pub.chmod(0o644)
    (node,) = load(tmp_path, HEADER + f"node1,,,{pub},\n").nodes
    assert node.ssh_key == str(pub)


@pytest.mark.parametrize("address", ["::1", "[fe80::1]", "fe80::1%eth0", "10.1.2.3", "a_b.example.org"])
def test_ip_and_host_addresses_are_accepted(tmp_path, address):
    (node,) = load(tmp_path, HEADER + f'"{address}",,,,\n').nodes
    assert node.address == address.strip("[]")


def test_same_address_with_other_port_or_user_is_not_a_duplicate(tmp_path):
    config = load(tmp_path, HEADER + "node1,,,,\nnode1,,2222,,\nnode1,bob,,,\n")
    assert len(config) == 3


# --- errors: each names file:line, the field and its value ---------------------------------

def test_missing_header(tmp_path, key):
    error = error_of(tmp_path, f"192.168.1.3,,22,{key}\n")
    assert str(error).startswith(f"{tmp_path / 'enb_cluster.csv'}:1: header '192.168.1.3,,22,")
    assert "lacks the column 'address'" in str(error)
    assert (error.line, error.field) == (1, "header")


def test_header_missing_a_required_column(tmp_path):
    error = error_of(tmp_path, "address,ssh_port\nnode1,22\n")
    assert "enb_cluster.csv:1: header 'address,ssh_port' lacks the column(s) 'ssh_user', " \
           "'local_ssh_file'" in str(error)


def test_unknown_header_columns_are_named(tmp_path):
    error = error_of(tmp_path, "address,ssh_user,ssh_port,local_ssh_file,password,zone\n")
    assert "enb_cluster.csv:1: header" in str(error)
    assert "unknown column(s) 'password', 'zone'" in str(error)
    assert "use only the columns address, ssh_user, ssh_port, local_ssh_file, cpu_limit" in str(error)


def test_repeated_header_column(tmp_path):
    error = error_of(tmp_path, "address,ssh_user,ssh_port,local_ssh_file,ssh_port\n")
    assert "repeats column(s) 'ssh_port'" in str(error)


def test_semicolon_separated_file_gets_a_hint(tmp_path):
    error = error_of(tmp_path, "address;ssh_user;ssh_port;local_ssh_file\n")
    assert "is not separated by commas; save the file with ',' as separator" in str(error)


def test_header_after_comments_reports_its_own_line(tmp_path):
    error = error_of(tmp_path, "# cluster\n\naddress,x\n")
    assert error.line == 3 and "enb_cluster.csv:3: header 'address,x'" in str(error)


def test_empty_address(tmp_path):
    error = error_of(tmp_path, HEADER + "node1,,,,\n,bob,22,,\n")
    assert str(error) == (f"{tmp_path / 'enb_cluster.csv'}:3: address '' is empty; give the node's "
                          "host name or IP address, or comment the line out with '#'")


@pytest.mark.parametrize("port", ["abc", "22.0", "2 2", "+22", "0x16"])
def test_port_that_is_not_a_number(tmp_path, port):
    error = error_of(tmp_path, HEADER + f'node1,,"{port}",,\n')
    assert f"enb_cluster.csv:2: ssh_port '{port.strip()}' is not a whole number; give a port " \
           "number from 1 to 65535" in str(error)


@pytest.mark.parametrize("port", ["0", "65536", "-22"])
def test_port_out_of_range(tmp_path, port):
    error = error_of(tmp_path, HEADER + f"node1,,{port},,\n")
    assert f"enb_cluster.csv:2: ssh_port '{port}' is not between 1 and 65535" in str(error)


def test_missing_key_file(tmp_path):
    error = error_of(tmp_path, HEADER + "node1,,,no_such_key,\n")
    assert f"enb_cluster.csv:2: local_ssh_file 'no_such_key' does not exist ({tmp_path}/no_such_key)" \
           in str(error)
    assert "leave the cell blank for ssh's default" in str(error)


def test_key_that_is_a_directory(tmp_path):
    error = error_of(tmp_path, HEADER + f"node1,,,{tmp_path},\n")
    assert "local_ssh_file" in str(error) and "is not a file" in str(error)


def test_unreadable_key_file(tmp_path, key, monkeypatch):
    # Root reads any file whatever its mode: simulate the failing access check so this runs
    # the same as root and as a user.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    error = error_of(tmp_path, HEADER + f"node1,,,{key},\n")
    assert f"enb_cluster.csv:2: local_ssh_file '{key}' is not readable" in str(error)


def test_key_readable_by_others_is_refused_like_ssh_does(tmp_path, key):
    key.chmod(0o644)
    error = error_of(tmp_path, HEADER + f"node1,,,{key},\n")
    assert "can be read by other users" in str(error) and f"chmod 600 {key}" in str(error)


def test_key_path_with_percent_is_refused(tmp_path):
    odd = tmp_path / "id%h"
    odd.write_text("k")
    odd.chmod(0o600)
    error = error_of(tmp_path, HEADER + f"node1,,,{odd},\n")
    assert "which ssh expands in key file names" in str(error)


@pytest.mark.parametrize("value", ["x", "1.5", "four"])
def test_bad_cpu_limit(tmp_path, value):
    error = error_of(tmp_path, HEADER + f"node1,,,,{value}\n")
    assert f"enb_cluster.csv:2: cpu_limit '{value}' is not a whole number" in str(error)


def test_duplicate_node_names_both_lines(tmp_path):
    error = error_of(tmp_path, HEADER + "node1,,22,,\n#\nNODE1,,,,\n")
    assert "enb_cluster.csv:4: address 'NODE1' duplicates line 2 (same address, port and user)" \
           in str(error)


def test_blank_user_and_explicit_current_user_are_duplicates(tmp_path):
    error = error_of(tmp_path, HEADER + f"node1,,,,\nnode1,{current_user()},,,\n")
    assert "duplicates line 2" in str(error)


def test_ipv6_spellings_are_duplicates(tmp_path):
    error = error_of(tmp_path, HEADER + '"::1",,,,\n"0:0::1",,,,\n')
    assert "duplicates line 2" in str(error)


@pytest.mark.parametrize("address", [
    "node1;reboot", "node1|x", "a&b", "$(id)", "`id`", "a>b", "a<b", "(a)", "'a'", '"a"x',
    "a b", "a\tb", "-oProxyCommand=id", "-node", "a\nb", "user@node1", "a:b", ".hidden", "a*b",
])
def test_address_that_a_shell_or_ssh_would_misread_is_rejected(tmp_path, address):
    quoted = '"' + address.replace('"', '""') + '"'
    error = error_of(tmp_path, HEADER + f"{quoted},,,,\n")
    assert error.field == "address" and error.line == 2
    assert f"address {address.strip()!r}" in str(error)


def test_address_with_user_gets_a_hint(tmp_path):
    error = error_of(tmp_path, HEADER + "bob@node1,,,,\n")
    assert "put the user in the ssh_user column" in str(error)


@pytest.mark.parametrize("user", [
    "bob;id", "b b", "$USER", "`id`", "-oProxyCommand=x", "a|b", "a'b", 'a"b', "a\nb", "a&b",
    "a>b", "a(b)", "a\\b",
])
def test_user_that_a_shell_or_ssh_would_misread_is_rejected(tmp_path, user):
    quoted = '"' + user.replace('"', '""') + '"'
    error = error_of(tmp_path, HEADER + f"node1,{quoted},,,\n")
    assert error.field == "ssh_user" and error.line == 2
    assert f"ssh_user {user!r} is not a plausible user name" in str(error) or \
           f"ssh_user {user!r} starts with '-'" in str(error)


def test_plausible_users_are_accepted(tmp_path):
    config = load(tmp_path, HEADER + "n1,alice,,,\nn2,svc.enb-1,,,\nn3,bob@corp.example,,,\nn4,_x,,,\n")
    assert [n.ssh_user for n in config] == ["alice", "svc.enb-1", "bob@corp.example", "_x"]


def test_cell_outside_the_header_columns(tmp_path):
    error = error_of(tmp_path, HEADER + "node1,,,,,surprise\n")
    assert "enb_cluster.csv:2: cell 'surprise' is outside the header's columns" in str(error)


def test_broken_quoting_names_the_line(tmp_path):
    error = error_of(tmp_path, HEADER + "node1,,,,\n" + 'node2,"bob"x,,,\n')
    assert error.line == 3 and "is not valid CSV" in str(error)


def test_multiline_quoted_cell_reports_the_line_where_the_row_starts(tmp_path):
    error = error_of(tmp_path, HEADER + '"node1\n# not a comment",,,,\n')
    assert error.line == 2 and "address 'node1\\n# not a comment'" in str(error)


def test_not_utf8(tmp_path):
    error = error_of(tmp_path, (HEADER + "n\xf6de,,,,\n").encode("latin-1"))
    assert error.line == 2 and "is not UTF-8; save the file as 'CSV UTF-8'" in str(error)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(ClusterConfigError) as info:
        load_cluster_config(path)
    assert str(info.value).startswith(f"{path}: file '{path}' cannot be read (No such file")


def test_error_is_a_value_error(tmp_path):
    assert isinstance(error_of(tmp_path, HEADER + ",,,,x\n"), ValueError)


# --- nodes built in code are checked too -----------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(address="a;b"), dict(address="-x"), dict(address="n", ssh_user="a b"),
    dict(address="n", ssh_port=0), dict(address="n", ssh_port="22"), dict(address="n", ssh_port=True),
    dict(address="n", ssh_key="/k%d"), dict(address="n", ssh_key=""), dict(address="n", cpu_limit=1.5),
])
def test_node_built_in_code_is_validated(kwargs):
    with pytest.raises(ValueError):
        ClusterNode(**kwargs)


def test_node_line_takes_no_part_in_equality():
    assert ClusterNode("n", line=3) == ClusterNode("n", line=9)


def test_node_name_brackets_ipv6_with_port():
    assert ClusterNode("::1", ssh_port=2222).name == "[::1]:2222"
    assert str(ClusterNode("::1")) == "::1"

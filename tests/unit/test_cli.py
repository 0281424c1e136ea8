"""The `enb` command: --version, plugin list, plugin install (run as `python -m enb`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import enb
from enb.plugins import TEMPLATES

REPO = Path(__file__).resolve().parents[2]
CLUSTER_CSV_HEADER = "address,ssh_user,ssh_port,local_ssh_file,cpu_limit"


def run_enb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python -m enb ARGS` from this checkout, in folder `cwd`."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    return subprocess.run([sys.executable, "-m", "enb", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_version_prints_enb_and_the_package_version(tmp_path):
    result = run_enb("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"enb {enb.__version__}\n"


def test_version_and_plugin_list_do_not_import_pandas(tmp_path):
    for args in ("--version", "plugin list"):
        probe = (f"import sys, runpy; sys.argv = ['enb'] + {args.split()!r}\n"
                 "try:\n    runpy.run_module('enb', run_name='__main__')\n"
                 "except SystemExit:\n    pass\n"
                 "print('pandas' in sys.modules, 'numpy' in sys.modules)")
        result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path,
                                env=dict(os.environ, PYTHONPATH=str(REPO)),
                                capture_output=True, text=True, timeout=60)
        assert result.stdout.splitlines()[-1] == "False False", (args, result.stderr)


def test_plugin_list_shows_each_template_with_its_description(tmp_path):
    result = run_enb("plugin", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    shown = [t for t in TEMPLATES.values() if t.available]  # entries being written: not yet
    assert len(lines) == len(shown)
    for line, template in zip(lines, shown):
        assert line.split(None, 1) == [template.name, template.description]


def test_plugin_list_filters_by_name_or_description(tmp_path):
    result = run_enb("plugin", "list", "pi", cwd=tmp_path)
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["montecarlo-pi"]


def test_install_cluster_config_writes_the_csv_template(tmp_path):
    result = run_enb("plugin", "install", "cluster-config", "conf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "conf").iterdir()) == ["enb_cluster.csv"]
    lines = (tmp_path / "conf" / "enb_cluster.csv").read_text().splitlines()
    assert lines[0] == CLUSTER_CSV_HEADER
    assert all(line.startswith("#") for line in lines[1:]) and len(lines) >= 2


def test_install_montecarlo_pi_brings_cluster_config_along(tmp_path):
    result = run_enb("plugin", "install", "montecarlo-pi", "mp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    installed = tmp_path / "mp"
    assert sorted(p.name for p in installed.iterdir()) == [
        "enb_cluster.csv", "montecarlo_pi_experiment.py"]
    assert os.access(installed / "montecarlo_pi_experiment.py", os.X_OK)
    assert "montecarlo_pi_experiment.py" in result.stdout  # says what it wrote


def test_install_into_an_existing_empty_folder_works(tmp_path):
    (tmp_path / "here").mkdir()
    assert run_enb("plugin", "install", "cluster-config", "here", cwd=tmp_path).returncode == 0
    assert (tmp_path / "here" / "enb_cluster.csv").is_file()


def test_install_without_a_folder_uses_plugins_slash_name_as_enb_1(tmp_path):
    result = run_enb("plugin", "install", "cluster-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "plugins" / "cluster-config" / "enb_cluster.csv").is_file()
    assert (tmp_path / "plugins" / "__init__.py").is_file()


def test_install_refuses_to_overwrite_any_existing_file(tmp_path):
    (tmp_path / "mp").mkdir()
    (tmp_path / "mp" / "enb_cluster.csv").write_text("my nodes\n")
    result = run_enb("plugin", "install", "montecarlo-pi", "mp", cwd=tmp_path)
    assert result.returncode == 1
    assert "enb_cluster.csv" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "mp" / "enb_cluster.csv").read_text() == "my nodes\n"
    # Nothing was written, not even the files that did not exist.
    assert not (tmp_path / "mp" / "montecarlo_pi_experiment.py").exists()


@pytest.mark.parametrize("flag", ["--force", "-f"])
def test_install_with_force_overwrites(tmp_path, flag):
    (tmp_path / "mp").mkdir()
    (tmp_path / "mp" / "enb_cluster.csv").write_text("my nodes\n")
    (tmp_path / "mp" / "notes.txt").write_text("mine\n")
    result = run_enb("plugin", "install", "montecarlo-pi", "mp", flag, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mp" / "enb_cluster.csv").read_text().startswith(CLUSTER_CSV_HEADER)
    assert (tmp_path / "mp" / "montecarlo_pi_experiment.py").is_file()
    assert (tmp_path / "mp" / "notes.txt").read_text() == "mine\n"  # other files untouched


def test_install_of_an_unknown_name_lists_the_known_ones(tmp_path):
    result = run_enb("plugin", "install", "no-such-plugin", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "no-such-plugin" in result.stderr
    for name in TEMPLATES:
        assert name in result.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "plugins").exists()


def test_install_onto_a_file_fails_clearly(tmp_path):
    (tmp_path / "taken").write_text("")
    result = run_enb("plugin", "install", "cluster-config", "taken", cwd=tmp_path)
    assert result.returncode == 1
    assert "not a folder" in result.stderr


def test_no_command_is_a_usage_error(tmp_path):
    result = run_enb(cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: enb" in result.stderr


def test_help_command_prints_the_usage_as_enb_1(tmp_path):
    result = run_enb("help", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: enb")
    assert "plugin" in result.stdout


def test_main_returns_the_exit_status_in_process(tmp_path, monkeypatch, capsys):
    from enb.__main__ import main
    monkeypatch.chdir(tmp_path)
    assert main(["plugin", "install", "cluster-config", "c"]) == 0
    assert main(["plugin", "install", "cluster-config", "c"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err

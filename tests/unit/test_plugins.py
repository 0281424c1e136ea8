"""Plugin templates: their files, the installer, and the montecarlo-pi script run end to end."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import enb
from enb.plugins import TEMPLATES, installer

REPO = Path(__file__).resolve().parents[2]
CLUSTER_CSV_HEADER = "address,ssh_user,ssh_port,local_ssh_file,cpu_limit"
MONTECARLO_SCRIPT = "montecarlo_pi_experiment.py"


def template_dir(name: str):
    return resources.files("enb.plugins").joinpath("templates", name)


# --- the catalog and its files ----------------------------------------------------------------

#: Catalogue entries whose files their owners are still writing: each is removed from here
#: when its folder lands (the test below fails until then, and fails if one lands unlisted).
PENDING: dict = {}


def test_every_template_has_files_and_every_folder_a_catalog_entry():
    folders = {entry.name for entry in resources.files("enb.plugins").joinpath("templates").iterdir()
               if entry.is_dir() and entry.name != "__pycache__"}
    assert folders == {t.files_folder for t in TEMPLATES.values() if t.name not in PENDING}
    for template in TEMPLATES.values():
        assert template.description and "\n" not in template.description
        assert all(requirement in TEMPLATES for requirement in template.requires)
        if template.name in PENDING:
            assert not installer.available(template.name), \
                f"{template.name} has landed: remove it from PENDING"
            continue
        assert installer.available(template.name) and installer.planned_files(template.name)


def test_cluster_config_csv_is_the_header_and_a_commented_example_row():
    lines = template_dir("cluster-config").joinpath("enb_cluster.csv").read_text().splitlines()
    assert lines[0] == CLUSTER_CSV_HEADER
    assert len(lines) == 2 and lines[1].startswith("#")
    example = lines[1].lstrip("# ").split(",")
    assert len(example) == len(CLUSTER_CSV_HEADER.split(","))
    assert int(example[2]) == 22  # ssh_port


def test_montecarlo_template_compiles_and_is_a_script():
    source = template_dir("montecarlo-pi").joinpath(MONTECARLO_SCRIPT).read_text()
    compile(source, MONTECARLO_SCRIPT, "exec")
    assert source.startswith("#!/usr/bin/env python3\n")
    assert "np.random.default_rng()" in source  # a generator per row, not numpy's shared state


def test_montecarlo_pi_plan_includes_cluster_config_first():
    assert list(installer.planned_files("montecarlo-pi")) == ["enb_cluster.csv", MONTECARLO_SCRIPT]


# --- the installer (Python API) ---------------------------------------------------------------

def test_install_returns_the_written_paths_and_copies_bytes_exactly(tmp_path):
    written = installer.install("montecarlo-pi", tmp_path / "mp")
    assert written == [tmp_path / "mp" / "enb_cluster.csv", tmp_path / "mp" / MONTECARLO_SCRIPT]
    for path in written:
        assert path.read_bytes() == installer.planned_files("montecarlo-pi")[path.name]
    assert not [p for p in (tmp_path / "mp").iterdir() if p.name.startswith(".")]  # no temp files


def test_install_refuses_before_writing_anything(tmp_path):
    (tmp_path / MONTECARLO_SCRIPT).write_text("mine")
    with pytest.raises(installer.DestinationExistsError) as caught:
        installer.install("montecarlo-pi", tmp_path)
    assert caught.value.paths == [tmp_path / MONTECARLO_SCRIPT]
    assert not (tmp_path / "enb_cluster.csv").exists()


def test_install_replaces_a_symlink_rather_than_writing_through_it(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("keep me")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "enb_cluster.csv").symlink_to(outside)
    installer.install("cluster-config", tmp_path / "dest", force=True)
    assert outside.read_text() == "keep me"
    assert not (tmp_path / "dest" / "enb_cluster.csv").is_symlink()


def test_unknown_template_error_names_the_known_ones():
    with pytest.raises(installer.UnknownTemplateError) as caught:
        installer.planned_files("nope")
    assert caught.value.known == tuple(TEMPLATES)
    assert "cluster-config" in str(caught.value) and "montecarlo-pi" in str(caught.value)


def test_enb1_install_function_does_nothing_when_the_folder_exists(tmp_path, fresh_options):
    fresh_options.project_root = str(tmp_path)  # a relative folder is the project's
    assert [p.name for p in enb.plugins.install("cluster-config")] == ["enb_cluster.csv"]
    assert (tmp_path / "plugins" / "cluster-config" / "enb_cluster.csv").is_file()
    assert enb.plugins.install("cluster-config") == []  # as enb 1.x: already there, no action
    with pytest.raises(installer.UnknownTemplateError):
        enb.plugins.install("nope", "plugins/cluster-config", automatic_import=False)


# --- montecarlo-pi end to end -----------------------------------------------------------------

def run_script(folder: Path, samples: int) -> subprocess.CompletedProcess:
    """Run the installed montecarlo script in `folder`, isolated from the user's enb.ini."""
    home = folder.parent / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENB_")}
    env.update(PYTHONPATH=str(REPO), HOME=str(home), ENB_MP_SAMPLES=str(samples))
    return subprocess.run([sys.executable, MONTECARLO_SCRIPT], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


def test_montecarlo_pi_runs_end_to_end_and_reuses_its_results(tmp_path):
    import pandas as pd

    samples = 1_000_000
    folder = tmp_path / "mp"
    installer.install("montecarlo-pi", folder)

    first = run_script(folder, samples)
    assert first.returncode == 0, first.stderr[-3000:]
    lines = [line for line in first.stdout.splitlines() if line.strip()]
    assert lines[0] == (f"............ [ Powered by enb (Experiment NoteBook) "
                        f"v{enb.__version__} ] ............")
    assert ("enb.config.options.ssh_cluster_csv_path is not set. "
            "You can do so with --ssh_cluster_csv_path=enb_cluster.csv.") in lines
    final = re.fullmatch(r"Computed pi ~ (\d+\.\d+) using (\d+) total samples on (\d+) nodes\.",
                         lines[-1])
    assert final, lines[-1]
    assert abs(float(final.group(1)) - math.pi) < 0.01
    assert int(final.group(2)) == 128 * samples
    assert int(final.group(3)) == 1

    [csv_path] = folder.rglob("persistence_MontecarloPiExperiment.csv")
    before = pd.read_csv(csv_path)
    assert len(before) == 128
    # Independent generators still collide by chance: an estimate is 4k/n with k binomial
    # (sd ~ 411 for n = 1e6), so 128 estimates share values in ~5.6 pairs on average. Workers
    # sharing one random state give at most 128 / workers distinct values (enb 1.x: 65).
    assert before["estimated_pi_value"].nunique() >= 110

    second = run_script(folder, samples)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.splitlines()[-1] == lines[-1]
    after = pd.read_csv(csv_path)
    assert after["estimated_pi_value"].tolist() == before["estimated_pi_value"].tolist()
    assert after["row_created"].tolist() == before["row_created"].tolist()


# --- packaging --------------------------------------------------------------------------------

def test_the_built_wheel_ships_every_template_file(tmp_path):
    import shutil
    import zipfile

    # Build from a copy of what the build reads: setuptools leaves build/ and *.egg-info in
    # the tree it builds, and the checkout may hold large untracked folders.
    source = tmp_path / "source"
    shutil.copytree(REPO / "enb", source / "enb", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                             "-w", str(tmp_path / "dist"), str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("enb-*.whl")
    archive = zipfile.ZipFile(wheel)
    shipped = set(archive.namelist())
    expected = {f"enb/plugins/templates/{entry.files_folder}/{relative}"
                for entry in TEMPLATES.values() if installer.available(entry.name)
                for relative in installer._read_tree(
                    resources.files("enb.plugins").joinpath("templates", entry.files_folder), "")}
    assert expected <= shipped, expected - shipped
    assert "enb/__main__.py" in shipped
    [entry_points] = [name for name in shipped if name.endswith(".dist-info/entry_points.txt")]
    assert "enb = enb.__main__:main" in archive.read(entry_points).decode()

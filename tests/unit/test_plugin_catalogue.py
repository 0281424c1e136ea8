"""The plugin catalogue: every entry installs, the templates run, enb 1.x's classes subclass."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import enb
from enb.config import OPTIONS
from enb.plugins import TEMPLATES, installer

REPO = Path(__file__).resolve().parents[2]


def enb_command(*args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENB_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "enb", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def run_script(path: Path, *argv, cwd=None, timeout=300):
    home = path.parent.parent / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENB_")}
    env.update(PYTHONPATH=str(REPO), HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(path), *argv], cwd=cwd or path.parent, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", [n for n, t in TEMPLATES.items() if t.available])
def test_every_entry_installs_into_a_folder_that_does_not_exist(name, tmp_path):
    destination = tmp_path / "new" / "nested" / name
    done = enb_command("plugin", "install", name, str(destination), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    planned = installer.planned_files(name)
    for relative, contents in planned.items():
        assert (destination / relative).read_bytes() == contents, relative
    for requirement in TEMPLATES[name].requires:
        for relative in installer.planned_files(requirement):
            assert (destination / relative).is_file()


def test_enb_1x_names_of_the_catalogue():
    assert {"enb.ini", "matplotlibrc", "colors-default", "colors-dark", "cluster-config",
            "basic-workflow", "experiment", "file_version_example", "lossless-compression",
            "lossy-compression", "png-to-raw", "ppm-to-raw", "analysis-gallery", "test-codecs",
            "montecarlo-pi"} <= set(TEMPLATES)


def test_plugin_list_filters_on_names_descriptions_and_tags(tmp_path):
    listed = enb_command("plugin", "list", "version", cwd=tmp_path).stdout
    assert listed.split()[0] == "file_version_example"
    codecs = [line.split()[0] for line in enb_command("plugin", "list", "codec", cwd=tmp_path)
              .stdout.splitlines()]
    assert {"zip", "zstd", "xz"} <= set(codecs) and "montecarlo-pi" not in codecs


def test_the_enb_ini_template_names_every_option_and_changes_nothing(tmp_path):
    text = installer.planned_files("enb.ini")["enb.ini"].decode()
    commented = {line[2:].split(" = ")[0] for line in text.splitlines()
                 if line.startswith("# ") and " = " in line}
    assert set(OPTIONS) <= commented
    parser = configparser.ConfigParser()
    parser.read_string(text)
    assert dict(parser["enb.config.options"]) == {}  # every line commented out
    # Uncommented one by one, every default value is accepted as it is written.
    for line in text.splitlines():
        if line.startswith("# ") and " = " in line and line[2:].split(" = ")[0] in OPTIONS:
            ini = tmp_path / "one.ini"
            ini.write_text(f"[enb.config.options]\n{line[2:]}\n")
            options = enb.config.Options(["--ini", str(ini)])
            for name in OPTIONS:
                getattr(options, name)


def test_file_version_example_versions_its_texts_from_any_folder(tmp_path):
    project = tmp_path / "fv"
    assert enb_command("plugin", "install", "file_version_example", str(project),
                       cwd=tmp_path).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_script(project / "file_version_example_lowercase.py", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    versions = sorted((project / "versioned_data").iterdir())
    assert [v.name for v in versions] == ["notes_on_measuring.txt", "the_lighthouse_keeper.txt"]
    text = (project / "versioned_data" / "notes_on_measuring.txt").read_text()
    assert text.splitlines()[1] == "measure twice.   write it down once."
    assert list(elsewhere.iterdir()) == []
    again = run_script(project / "file_version_example_lowercase.py")
    assert again.returncode == 0 and again.stdout.count("NaN") == 2  # kept, not versioned again


def test_experiment_template_runs_and_analyses(tmp_path):
    project = tmp_path / "exp"
    assert enb_command("plugin", "install", "experiment", str(project),
                       cwd=tmp_path).returncode == 0
    assert (project / "enb.ini").is_file() and (project / "plugins" / "__init__.py").is_file()
    done = run_script(project / "experiment.py")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Experiment complete" in done.stdout
    csv = project / "persistence" / "persistence_MyExperiment.csv"
    import pandas as pd
    df = pd.read_csv(csv)
    assert len(df) == 3 and sorted(df["parameter_count"]) == [0, 1, 2]
    plots = sorted(p.name for p in (project / "plots" / "experiment").glob("*.png"))
    assert any(p.startswith("ScalarNumericAnalyzer-parameter_count") for p in plots), plots
    assert any(p.startswith("TwoNumericAnalyzer") for p in plots), plots


def test_basic_workflow_template_runs_and_plots(tmp_path):
    project = tmp_path / "bw"
    assert enb_command("plugin", "install", "basic-workflow", str(project),
                       cwd=tmp_path).returncode == 0
    done = run_script(project / "basic_workflow.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data/wiki/d_knuth.txt" in done.stdout and "alive" in done.stdout
    tables = sorted(p.name for p in (project / "analysis" / "basic_workflow").glob("*.csv"))
    assert any("groupby__status" in t for t in tables), tables
    assert len(list((project / "plots" / "basic_workflow").glob("*.pdf"))) >= 6


def test_png_and_ppm_curation_templates_write_raw_images(tmp_path):
    np = pytest.importorskip("numpy", reason="enb[compression] is installed by the test extra")
    from enb.compression.pgm import write_pgm, write_ppm
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    write_ppm(np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3), 1, images / "c.ppm")
    write_pgm(np.arange(4 * 5, dtype=np.uint8).reshape(4, 5), 1, images / "sub" / "g.pgm")
    project = tmp_path / "tool"
    assert enb_command("plugin", "install", "ppm-to-raw", str(project), cwd=tmp_path).returncode == 0
    done = run_script(project / "ppm_to_raw.py", str(images), str(tmp_path / "raw"))
    assert done.returncode == 0, done.stderr
    written = sorted(str(p.relative_to(tmp_path / "raw")) for p in (tmp_path / "raw").rglob("*.raw"))
    assert written == ["c-u8be-3x5x4.raw", "sub/g-u8be-1x5x4.raw"]
    refused = run_script(project / "ppm_to_raw.py", str(images), str(tmp_path / "raw"))
    assert refused.returncode == 1 and "already exists" in refused.stdout + refused.stderr


# -- enb 1.x's classes -------------------------------------------------------------------
def write_module(folder: Path, source: str) -> None:
    folder.mkdir(parents=True)
    (folder / "__plugin__.py").write_text(textwrap.dedent(source))


def test_template_and_plugin_subclasses_install_as_in_enb_1x(tmp_path, fresh_options):
    source = tmp_path / "src" / "mytemplate"
    write_module(source, """
        import enb.plugins
        class MyTemplate(enb.plugins.Template):
            name = "my-template"
            label = "A template of the user's"
            tags = {"project"}
            tested_on = {"linux"}
            required_fields_to_help = {"who": "who is greeted"}
    """)
    (source / "hello.py.enbt").write_text("print('hello {{ who }}')\n")
    (source / "data.txt").write_text("kept as is {{ who }}\n")
    plugin_source = tmp_path / "src" / "myplugin"
    write_module(plugin_source, """
        import enb.plugins
        class MyPlugin(enb.plugins.Plugin):
            name = "my-plugin"
            label = "A plugin of the user's"
    """)
    (plugin_source / "codecs_here.py").write_text("ANSWER = 42\n")
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        import mytemplate.__plugin__ as template_module  # noqa: F401
        import myplugin.__plugin__ as plugin_module  # noqa: F401
        found = enb.plugins.get_installable_by_name("my-template")
        assert found.label == "A template of the user's" and found.tags == {"project"}
        found.install(tmp_path / "out", fields={"who": "world"})
        assert (tmp_path / "out" / "hello.py").read_text() == "print('hello world')\n"
        assert (tmp_path / "out" / "data.txt").read_text() == "kept as is {{ who }}\n"
        assert not (tmp_path / "out" / "__plugin__.py").exists()
        with pytest.raises(ValueError, match="exists"):
            found.install(tmp_path / "out", fields={"who": "again"})

        fresh_options.project_root = str(tmp_path / "project")
        os.makedirs(fresh_options.project_root)
        enb.plugins.install("my-plugin", automatic_import=True)
        installed = tmp_path / "project" / "plugins" / "my-plugin"
        assert (installed / "codecs_here.py").is_file()
        assert "from . import codecs_here" in (installed / "__init__.py").read_text()
        names = [c.name for c in enb.plugins.list_all_installables()]
        assert {"my-template", "my-plugin", "montecarlo-pi", "zip"} <= set(names)
        assert names == sorted(names, key=str.lower)
        catalogue_class = enb.plugins.get_installable_by_name("cluster-config")
        assert issubclass(catalogue_class, enb.plugins.Template)
        catalogue_class.install(str(tmp_path / "cc"))
        assert (tmp_path / "cc" / "enb_cluster.csv").is_file()
    finally:
        sys.path.remove(str(tmp_path / "src"))


def test_install_imports_an_installed_package(tmp_path, fresh_options):
    fresh_options.project_root = str(tmp_path)
    written = enb.plugins.install("zip")  # plugins/zip under the project, then imported
    assert written and (tmp_path / "plugins" / "zip" / "__init__.py").is_file()
    assert "plugins.zip" in sys.modules
    for module in [m for m in sys.modules if m == "plugins" or m.startswith("plugins.")]:
        del sys.modules[module]
    sys.path.remove(str(tmp_path))


def test_a_plugin_make_runs_its_makefile(tmp_path):
    import shutil
    if shutil.which("make") is None:
        pytest.skip("make is not installed (Debian: build-essential)")
    source = tmp_path / "src" / "built"
    write_module(source, """
        import enb.plugins
        class Built(enb.plugins.PluginMake):
            name = "built-by-make"
    """)
    (source / "Makefile").write_text("all:\n\techo made > made.txt\n")
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        import built.__plugin__  # noqa: F401
        enb.plugins.get_installable_by_name("built-by-make").install(tmp_path / "dest")
        assert (tmp_path / "dest" / "made.txt").read_text() == "made\n"
    finally:
        sys.path.remove(str(tmp_path / "src"))

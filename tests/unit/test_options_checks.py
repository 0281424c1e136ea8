"""enb 1.x's options and their folders; every option error is one line naming its source."""
import os
import subprocess
import sys
import textwrap

import pytest

from enb.config import OPTIONS, OptionError, Options

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: enb 1.1.3's options, as its ``-h`` lists them, with the value its .ini file gives.
ENB113_OPTIONS = {
    "verbose": "0", "extra_ini_paths": "[]", "cpu_limit": "None", "force": "0", "quick": "0",
    "no_new_results": "False", "chunk_size": "None", "repetitions": "1",
    "report_wall_time": "False", "force_sanity_checks": "False", "selected_columns": "None",
    "progress_report_period": "1", "disable_progress_bar": "False", "project_root": "None",
    "base_dataset_dir": "None", "persistence_dir": "None", "reconstructed_dir": "None",
    "compressed_copy_dir": "None", "base_version_dataset_dir": "None", "base_tmp_dir": "None",
    "external_bin_base_dir": "None", "plot_dir": "None", "analysis_dir": "None",
    "ssh_cluster_csv_path": "None", "disable_swap": "False",
    "worker_script_name": "default_worker.py", "preshutdown_wait_seconds": "0.5",
    "ray_port": "11000", "ray_port_count": "500", "no_remote_mount_needed": "False",
    "selected_log_level": "message", "default_print_level": "message",
    "log_level_prefix": "True", "show_prefix_level": "info", "force_live_progress": "False",
}
#: Flags enb 1.1.3 accepts, with an argument where they take one.
ENB113_FLAGS = [["-v"], ["--verbose"], ["--ini", "{ini}"], ["--extra_ini_paths", "{ini}"],
                ["--cpu_limit", "2"], ["-f"], ["--force"], ["--overwrite"], ["-q"], ["--quick"],
                ["--render_only"], ["--no_new_results"], ["--chunk_size", "3"],
                ["--repetitions", "2"], ["--report_wall_time"], ["--force_sanity_checks"],
                ["--selected_columns", "a", "b"], ["--progress_report_period", "2"],
                ["--disable_progress_bar"], ["--project_root", "{root}"],
                ["--base_dataset_dir", "d"], ["--persistence_dir", "p"],
                ["--reconstructed_dir", "r"], ["--compressed_copy_dir", "c"],
                ["--base_version_dataset_dir", "v"], ["--base_tmp_dir", "t"],
                ["--external_bin_base_dir", "b"], ["--plot_dir", "pl"], ["--analysis_dir", "an"],
                ["--ssh_csv", "x.csv"], ["--ssh_cluster_csv_path", "x.csv"], ["--disable_swap"],
                ["--worker_script_name", "w.py"], ["--preshutdown_wait_seconds", "1"],
                ["--ray_port", "12000"], ["--ray_port_count", "100"],
                ["--no_remote_mount_needed"], ["--selected_log_level", "debug"],
                ["--default_print_level", "verbose"], ["--log_level_prefix", "False"],
                ["--show_prefix_level", "warning"], ["--force_live_progress", "True"]]


def script_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "ENB_IGNORE_ARGV"}
    env["PYTHONPATH"] = REPO
    env.update(extra)
    return env


def test_every_option_of_enb_113_exists_and_reads_its_ini_value(tmp_path):
    assert set(ENB113_OPTIONS) <= set(OPTIONS)
    ini = tmp_path / "enb113.ini"
    ini.write_text("[enb.config.options]\n" + "".join(f"{k} = {v}\n"
                                                      for k, v in ENB113_OPTIONS.items()))
    options = Options(["--ini", str(ini)])
    assert options.worker_script_name == "default_worker.py"
    assert options.preshutdown_wait_seconds == 0.5
    assert options.selected_log_level == "message" and options.log_level_prefix is True
    assert options.show_prefix_level == "info" and options.extra_ini_paths == [str(ini)]
    assert options.reconstructed_dir is None  # enb 1.x: no copy kept unless asked


@pytest.mark.parametrize("flag", ENB113_FLAGS, ids=lambda f: f[0])
def test_every_flag_of_enb_113_is_accepted(flag, tmp_path):
    ini = tmp_path / "x.ini"
    ini.write_text("[enb.config.options]\n")
    argv = [part.format(ini=ini, root=tmp_path) for part in flag]
    options = Options(argv)
    for name in OPTIONS:
        getattr(options, name)  # every value parses


def test_folders_are_absolute_under_the_project_root_and_nothing_is_created(tmp_path):
    options = Options(["--project_root", str(tmp_path)])
    assert options.project_root == str(tmp_path)
    assert options.base_dataset_dir == str(tmp_path / "datasets")
    assert options.persistence_dir == str(tmp_path / "persistence")
    assert options.base_version_dataset_dir == str(tmp_path / "versioned_datasets")
    stem = os.path.basename(sys.argv[0])
    stem = stem[:-3] if stem.endswith(".py") else stem
    assert options.plot_dir in (str(tmp_path / "plots" / stem), str(tmp_path / "plots"))
    assert options.analysis_dir.startswith(str(tmp_path / "analysis"))
    assert os.path.isabs(options.base_tmp_dir)
    assert options.external_bin_base_dir is None
    (tmp_path / "bin").mkdir()
    assert options.external_bin_base_dir == str(tmp_path / "bin")
    assert sorted(os.listdir(tmp_path)) == ["bin"]  # reading created no folder


def test_relative_folders_are_read_against_the_project_root_from_every_source(tmp_path):
    ini = tmp_path / "o.ini"
    ini.write_text("[enb.config.options]\nplot_dir = figures\n")
    options = Options(["--project_root", str(tmp_path), "--persistence_dir", "store",
                       "--ini", str(ini)])
    options.analysis_dir = "tables"
    assert options.persistence_dir == str(tmp_path / "store")
    assert options.plot_dir == str(tmp_path / "figures")
    assert options.analysis_dir == str(tmp_path / "tables")
    options.project_root = str(tmp_path / "elsewhere")
    assert options.base_dataset_dir == str(tmp_path / "elsewhere" / "datasets")


@pytest.mark.parametrize("flag", ["--cpu-limit", "--cpulimit", "--CPU_LIMIT", "--cpu_limt"])
def test_mistyped_flags_say_did_you_mean(flag):
    with pytest.raises(OptionError, match=rf"unknown option {flag} \(command line\); did you mean "
                                          r"--cpu_limit\?"):
        Options([flag, "2"])


def test_flags_of_the_script_itself_still_pass(tmp_path):
    script = tmp_path / "mine.py"
    script.write_text(textwrap.dedent("""
        import argparse
        import enb
        parser = argparse.ArgumentParser()
        parser.add_argument("--cpu-limit")  # the script's own flag, one that resembles enb's
        parser.add_argument("--output")
        known, _ = parser.parse_known_args()
        print(known.cpu_limit, known.output, enb.config.options.chunk_size)
    """))
    done = subprocess.run([sys.executable, str(script), "--cpu-limit", "3", "--output", "o",
                           "--chunk_size", "5"], env=script_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "o", "5"]


def run_script(tmp_path, *argv, body="print(enb.config.options.cpu_limit)", ini=None):
    script = tmp_path / "s.py"
    script.write_text(f"import enb\n{body}\n")
    if ini is not None:
        (tmp_path / "project.ini").write_text(ini)
    return subprocess.run([sys.executable, str(script), *argv], env=script_env(
        XDG_CONFIG_HOME=str(tmp_path / "config")), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case,argv,ini,needle", [
    ("typo flag", ["--cpulimit", "2"], None,
     r"^enb: error: unknown option --cpulimit \(command line\); did you mean --cpu_limit\?$"),
    ("bad flag", ["--chunk_size", "x"], None,
     r"^enb: error: option --chunk_size \(command line\): 'x' is not an integer$"),
    ("missing --ini", ["--ini", "nowhere.ini"], None,
     r"^enb: error: option --ini \(command line\): 'nowhere.ini' is not a file$"),
    ("bad ini value", [], "[enb.config.options]\n\ncpu_limit = many\n",
     r"^enb: error: option --cpu_limit \(.*project.ini:3\): 'many' is not an integer$"),
    ("unknown ini key", [], "[enb.config.options]\ncpulimit = 2\n",
     r"^enb: error: .*project.ini:2: unknown option 'cpulimit' in \[enb.config.options\]; "
     r"did you mean cpu_limit\?$"),
    ("percent in ini", [], "[enb.config.options]\nplot_dir = 100%plots\n",
     r"^enb: error: .*project.ini:2: option 'plot_dir': .*%%.*$"),
    ("broken ini", [], "[enb.config.options]\ncpu_limit\n",
     r"^enb: error: .*project.ini:2: not a valid .ini file"),
])
def test_every_option_error_is_one_line_naming_its_source(tmp_path, case, argv, ini, needle):
    done = run_script(tmp_path, *argv, ini=ini)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    import re
    assert re.search(needle, done.stderr.strip()), done.stderr


def test_an_error_in_code_names_the_line_that_set_it(tmp_path):
    done = run_script(tmp_path, body="enb.config.options.cpu_limit = 'many'")
    assert done.returncode == 1
    import re
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"enb\.config\.OptionError: option --cpu_limit \(set in code at "
                        r"\S*s\.py:2\): 'many' is not an integer", last), last


def test_an_ini_file_of_someone_else_beside_the_script_is_left_alone(tmp_path):
    done = run_script(tmp_path, ini="this is [not an ini file\n= at all\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def test_the_script_reads_the_same_folders_from_any_folder(tmp_path):
    project = tmp_path / "project"
    elsewhere = tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    script = project / "exp.py"
    script.write_text("import enb\no = enb.config.options\n"
                      "print(o.project_root, o.persistence_dir, o.base_dataset_dir, o.plot_dir)\n")
    outputs = [subprocess.run([sys.executable, str(script), "--persistence_dir", "p"], cwd=cwd,
                              env=script_env(), capture_output=True, text=True, timeout=60,
                              check=True).stdout.split() for cwd in (project, elsewhere)]
    real = os.path.realpath(project)
    assert outputs[0] == outputs[1] == [real, f"{real}/p", f"{real}/datasets", f"{real}/plots/exp"]
    assert sorted(os.listdir(project)) == ["exp.py"] and os.listdir(elsewhere) == []


def test_verbose_moves_the_1x_log_level():
    import enb
    logger = enb.log.logger
    options = enb.config.options
    options.verbose = 0
    assert logger.selected_log_level is logger.level_message
    options.verbose += 1
    assert logger.selected_log_level is logger.level_verbose and logger.level_active("verbose")
    options.verbose = 2
    assert logger.selected_log_level.name == "info" and not logger.debug_active
    options.verbose = -1
    assert logger.selected_log_level is logger.level_warn and not logger.message_active
    options.verbose = -2
    assert logger.selected_log_level is logger.level_error and not logger.warn_active


def test_1x_messages_go_to_stdout_and_warnings_to_stderr(tmp_path):
    body = textwrap.dedent("""
        enb.logger.message("result %d", 42)
        enb.logger.verbose("only with -v")
        enb.logger.warn("careful")
        enb.logger.message("[bold]marked[/bold] up", markup=True)
        with enb.logger.message_context("working"):
            pass
    """)
    done = run_script(tmp_path, body=body)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["result 42", "marked up"] and lines[2].startswith("working... done")
    assert "careful" in done.stderr and "only with -v" not in done.stdout
    verbose = run_script(tmp_path, "-v", body=body)
    assert "only with -v" in verbose.stdout


def test_an_ini_beside_a_script_in_a_folder_named_like_a_pattern_is_read(tmp_path):
    folder = tmp_path / "run[1]"
    folder.mkdir()
    done = run_script(folder, ini="[enb.config.options]\ncpu_limit = 3\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


def test_enb_options_lists_every_option_with_its_flags(tmp_path):
    done = subprocess.run([sys.executable, "-m", "enb", "options"], cwd=tmp_path,
                          env=script_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for option in OPTIONS.values():
        assert ", ".join(option.all_flags) in done.stdout, option.name
    filtered = subprocess.run([sys.executable, "-m", "enb", "options", "ray_port"], cwd=tmp_path,
                              env=script_env(), capture_output=True, text=True, timeout=60)
    assert filtered.stdout.splitlines()[0] == "--ray_port"
    assert "--cpu_limit" not in filtered.stdout

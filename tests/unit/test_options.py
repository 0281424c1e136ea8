"""enb.config.options: names and defaults of enb 1.x, flags, .ini files, code, and errors."""
import os
import subprocess
import sys
import textwrap

import pytest

from enb.config import OptionError, Options

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_defaults_match_enb():
    options = Options([])
    assert options.verbose == 0
    assert options.cpu_limit is None
    assert options.chunk_size is None
    assert options.force == 0 and options.quick == 0
    assert options.no_new_results is False
    assert options.ray_port == 11000 and options.ray_port_count == 500
    assert options.no_remote_mount_needed is False
    assert options.disable_progress_bar is False
    assert options.progress_report_period == 1.0
    assert options.ssh_cluster_csv_path is None
    assert options.executor == "local-process"


def test_flags_and_aliases():
    options = Options(["-vv", "--cpu_limit", "3", "-f", "-qq", "--render_only", "--ssh_csv",
                       "c.csv", "--chunk_size=10", "--ray_port", "12000",
                       "--no_remote_mount_needed", "--disable_progress_bar",
                       "--progress_report_period", "2.5", "--persistence_dir", "p",
                       "--executor", "local-ray", "--host-script-flag", "x"])
    assert options.verbose == 2 and options.cpu_limit == 3 and options.force == 1
    assert options.quick == 2 and options.no_new_results is True
    assert options.ssh_cluster_csv_path == "c.csv"  # as given, as enb 1.x prints it
    assert options.chunk_size == 10 and options.ray_port == 12000
    assert options.no_remote_mount_needed and options.disable_progress_bar
    assert options.progress_report_period == 2.5
    # a relative folder is read against the project root, wherever the script is started from
    assert options.persistence_dir == os.path.join(options.project_root, "p")
    assert options.executor == "local-ray"


def test_ssh_cluster_csv_implies_the_cluster_executor():
    assert Options(["--ssh_cluster_csv_path", "x.csv"]).resolved_executor() == "ssh-ray-cluster"
    options = Options([])
    options.ssh_cluster_csv_path = "x.csv"
    assert options.resolved_executor() == "ssh-ray-cluster"


def test_code_wins_over_flags_over_ini(tmp_path, monkeypatch):
    ini = tmp_path / "mine.ini"
    ini.write_text("[enb.config.options]\ncpu_limit = 5\nchunk_size = 7\nray_port = 13000\n")
    options = Options(["--ini", str(ini), "--cpu_limit", "4"])
    assert options.ray_port == 13000  # from the file
    assert options.cpu_limit == 4     # flag over file
    options.cpu_limit = 2
    assert options.cpu_limit == 2     # code over flag
    assert options.chunk_size == 7


def test_ini_beside_the_script_and_in_the_user_config(tmp_path):
    config = tmp_path / "config" / "enb"
    config.mkdir(parents=True)
    (config / "enb.ini").write_text("[enb.config.options]\nray_port = 14000\nchunk_size = 3\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "local.ini").write_text("[enb.config.options]\nchunk_size = 9\n")
    script = project / "script.py"
    script.write_text(textwrap.dedent(f"""
        import sys; sys.path.insert(0, {REPO!r})
        import enb
        o = enb.config.options
        print(o.ray_port, o.chunk_size, o.cpu_limit)
    """))
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("ENB_IGNORE_ARGV", None)
    out = subprocess.run([sys.executable, str(script), "--cpu_limit", "2"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["14000", "9", "2"]


@pytest.mark.parametrize("argv,needle", [
    (["--cpu_limit", "abc"], "--cpu_limit"),
    (["--executor", "nope"], "--executor"),
    (["--ray_port", "70000"], "--ray_port"),
])
def test_bad_values_name_the_option(argv, needle):
    with pytest.raises(OptionError, match=needle):
        Options(argv)


def test_bad_flag_in_a_script_is_a_one_line_error(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(f"import sys; sys.path.insert(0, {REPO!r})\nimport enb\n"
                      "print(enb.config.options.cpu_limit)\n")
    env = dict(os.environ)
    env.pop("ENB_IGNORE_ARGV", None)
    result = subprocess.run([sys.executable, str(script), "--cpu_limit", "abc"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--cpu_limit" in result.stderr and "abc" in result.stderr


def test_setting_in_code_is_validated():
    options = Options([])
    with pytest.raises(OptionError, match="cpu_limit"):
        options.cpu_limit = "many"
    # enb 1.x scripts keep their own attributes on the options namespace...
    options.my_setting = 1
    assert options.my_setting == 1
    # ... but a near miss of an option is a mistake, said with the option it resembles
    with pytest.raises(OptionError, match=r"cpulimit.*test_options.py:\d+.*did you mean 'cpu_limit'"):
        options.cpulimit = 2


def test_a_snapshot_names_the_project_root_a_worker_cannot_find_by_itself(tmp_path):
    script_dir = os.path.dirname(os.path.abspath(sys.argv[0]))
    assert Options([]).snapshot()["project_root"] == script_dir
    assert Options(["--project_root", str(tmp_path)]).snapshot()["project_root"] == str(tmp_path)


def test_rebase_moves_the_folders_inside_the_project_and_keeps_the_others(tmp_path):
    head, mount = "/home/alice/proj", str(tmp_path / ".enb-remote")
    options = Options(["--project_root", head, "--plot_dir", "/home/alice/proj/out/plots",
                       "--base_dataset_dir", "/data/corpus", "--reconstructed_dir", head,
                       "--analysis_dir", "/home/alice/project2/analysis"])
    options.rebase(mount)
    assert options.project_root == mount
    assert options.plot_dir == os.path.join(mount, "out", "plots")
    assert options.reconstructed_dir == mount
    assert options.base_dataset_dir == "/data/corpus"  # each node's own copy
    assert options.analysis_dir == "/home/alice/project2/analysis"  # a sibling, not inside
    # unset: derived from the (new) project root
    assert options.persistence_dir == os.path.join(mount, "persistence")
    # on the head (or a shared file system) nothing moves
    same = Options(["--project_root", head, "--plot_dir", "/home/alice/proj/plots"])
    same.rebase(head + "/")
    assert (same.project_root, same.plot_dir) == (head, "/home/alice/proj/plots")


def test_a_folder_spelled_through_another_link_is_still_inside_the_project(tmp_path):
    # The default project root is the script's real folder; a user in a linked folder writes
    # --plot_dir plots, which options make absolute through the link.
    real = tmp_path / "data" / "proj"
    (real / "plots").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    options = Options(["--project_root", str(real),
                       "--plot_dir", str(tmp_path / "link" / "plots"),
                       "--analysis_dir", str(tmp_path / "link")])
    snapshot = options.snapshot()
    assert snapshot["plot_dir"] == str(real / "plots")
    assert snapshot["analysis_dir"] == str(real)
    worker = Options([])
    worker.restore(snapshot)
    worker.rebase("/home/bob/.enb-remote")
    assert worker.plot_dir == "/home/bob/.enb-remote/plots"
    assert worker.analysis_dir == "/home/bob/.enb-remote"


def test_script_flag_reaches_the_workers(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(f"""
        import sys; sys.path.insert(0, {REPO!r})
        import enb
        class T(enb.atable.ATable):
            def column_limit(self, index, row):
                return enb.config.options.chunk_size
        df = T().get_df(target_indices=[1, 2, 3])
        print(sorted(set(df["limit"])), enb.config.options.cpu_limit)
    """))
    env = dict(os.environ)
    env.pop("ENB_IGNORE_ARGV", None)
    out = subprocess.run([sys.executable, str(script), "--chunk_size", "2", "--cpu_limit", "1"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[2]", "1"]


def test_import_enb_has_no_side_effects_and_is_fast(tmp_path):
    code = textwrap.dedent(f"""
        import builtins, os, sys, time
        sys.path.insert(0, {REPO!r})
        print_before, cwd_before = builtins.print, os.getcwd()
        start = time.perf_counter()
        import enb
        elapsed = time.perf_counter() - start
        assert builtins.print is print_before
        assert os.getcwd() == cwd_before
        assert "pandas" not in sys.modules
        print(elapsed)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    assert float(out) < 0.5
    assert list(tmp_path.iterdir()) == []


def test_options_pickled_by_value_arrive_as_the_receiving_process_options():
    # ray ships a script's own column functions by value, with the globals they read: the
    # options must be the worker's (moved to a node's mount), never a copy of the head's.
    import pickle

    import enb.config
    from enb.config.options import Options

    assert pickle.loads(pickle.dumps(enb.config.options)) is enb.config.options
    other = Options(argv=["--cpu_limit", "5"])
    copy = pickle.loads(pickle.dumps(other))
    assert copy is not other and copy.cpu_limit == 5

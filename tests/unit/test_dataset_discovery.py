"""Dataset discovery follows symbolic links, each real folder once, and skips loops."""
import logging
import os

import enb
from enb.atable import get_all_input_files


def _names(files):
    return sorted(os.path.relpath(f, "datasets") for f in files)


def _project(tmp_path, fresh_options):
    datasets = tmp_path / "datasets"
    (datasets / "a" / "deep").mkdir(parents=True)
    (datasets / "a" / "one.raw").write_text("1")
    (datasets / "a" / "deep" / "two.raw").write_text("2")
    (datasets / "notes.txt").write_text("n")
    fresh_options.project_root = str(tmp_path)
    return datasets


def test_links_to_files_and_folders_are_followed(tmp_path, fresh_options, monkeypatch):
    monkeypatch.chdir(tmp_path)
    datasets = _project(tmp_path, fresh_options)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "three.raw").write_text("3")
    (datasets / "linked").symlink_to(outside)
    (datasets / "file-link.raw").symlink_to(datasets / "a" / "one.raw")
    (datasets / "broken.raw").symlink_to(tmp_path / "missing")
    (datasets / ".hidden.raw").write_text("h")
    assert _names(get_all_input_files(ext=".raw")) == [
        "a/deep/two.raw", "a/one.raw", "file-link.raw", "linked/three.raw"]


def test_a_loop_is_reported_once_and_each_file_listed_once(tmp_path, fresh_options,
                                                          monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    datasets = _project(tmp_path, fresh_options)
    (datasets / "a" / "deep" / "up").symlink_to(datasets)
    with caplog.at_level(logging.WARNING, logger="enb"):
        files = get_all_input_files()
    assert _names(files) == ["a/deep/two.raw", "a/one.raw", "notes.txt"]
    loops = [r for r in caplog.records if "symbolic link loop" in r.getMessage()]
    assert len(loops) == 1 and "a/deep/up" in loops[0].getMessage()


def test_two_loops_end(tmp_path, fresh_options, monkeypatch):
    monkeypatch.chdir(tmp_path)
    datasets = _project(tmp_path, fresh_options)
    (datasets / "a" / "to-deep").symlink_to(datasets / "a" / "deep")
    (datasets / "a" / "deep" / "to-a").symlink_to(datasets / "a")
    (datasets / "a" / "deep" / "to-root").symlink_to(datasets)
    assert _names(get_all_input_files()) == ["a/deep/two.raw", "a/one.raw", "notes.txt"]


def test_a_table_over_a_looping_dataset_folder_has_one_row_per_file(tmp_path, fresh_options,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    datasets = _project(tmp_path, fresh_options)
    (datasets / "a" / "loop").symlink_to(datasets / "a")
    df = enb.sets.FilePropertiesTable(csv_support_path=tmp_path / "p.csv").get_df()
    # FilePropertiesTable keeps the *.raw files: one row each, none repeated through the loop.
    assert sorted(os.path.basename(p) for p in df["file_path"]) == ["one.raw", "two.raw"]

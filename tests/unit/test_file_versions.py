"""FileVersionTable: versions of every original file in a mirrored tree, written atomically."""
import math
import os
import subprocess
import sys
import textwrap

import pytest

import enb

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Lowercase(enb.sets.FileVersionTable):
    dataset_files_extension = "txt"

    def version(self, input_path, output_path, row):
        with open(input_path) as source:
            text = source.read()
        with open(output_path, "w") as target:
            target.write("partial ")  # a failing version leaves this behind unless staged
            if "FAIL" in text:
                raise ValueError(f"cannot version {input_path}")
            target.write(text.lower())


class WritesNothing(Lowercase):
    def version(self, input_path, output_path, row):
        pass


class Renames(Lowercase):
    """Writes its output under another name beside output_path (as 1.x's BIP -> BSQ does)."""

    def version(self, input_path, output_path, row):
        with open(output_path[:-len(".txt")] + ".raw", "w") as target:
            target.write(str(row["size_bytes"]))


@pytest.fixture
def project(tmp_path, fresh_options):
    (tmp_path / "original" / "corpus" / "sub").mkdir(parents=True)
    (tmp_path / "original" / "top.txt").write_text("TOP\n")
    (tmp_path / "original" / "corpus" / "a.txt").write_text("Hello A\n")
    (tmp_path / "original" / "corpus" / "sub" / "b.txt").write_text("Hello B\n")
    (tmp_path / "original" / "corpus" / "ignored.dat").write_text("not a txt\n")
    fresh_options.project_root = str(tmp_path)
    return tmp_path


def make(cls, project, **kwargs):
    return cls(original_base_dir="original", version_base_dir="versions", version_name="lower",
               csv_support_path="persistence/versions.csv", **kwargs)


def test_every_file_is_versioned_into_the_mirrored_tree(project):
    df = make(Lowercase, project).get_df()
    assert sorted(df["file_path"]) == ["original/corpus/a.txt", "original/corpus/sub/b.txt",
                                       "original/top.txt"]
    assert (project / "versions" / "corpus" / "sub" / "b.txt").read_text() == "partial hello b\n"
    assert (project / "versions" / "top.txt").read_text() == "partial top\n"
    row = df.set_index("file_path").loc["original/corpus/sub/b.txt"]
    assert row["original_file_path"] == "original/corpus/sub/b.txt"
    assert row["version_name"] == "lower" and row["corpus"] == os.path.join("corpus", "sub")
    assert row["size_bytes"] == len("Hello B\n") and row["version_time"] >= 0
    assert df.set_index("file_path").loc["original/top.txt", "corpus"] == "original"
    assert list(df.columns)[-3:] == ["row_created", "row_updated", "version_time"] or \
        list(df.columns).index("version_time") > list(df.columns).index("sha256")


def test_a_failed_version_leaves_no_file_and_the_others_are_saved(project):
    (project / "original" / "corpus" / "bad.txt").write_text("FAIL here\n")
    table = make(Lowercase, project)
    with pytest.raises(enb.atable.ColumnFailedError) as raised:
        table.get_df()
    assert [e.index for e in raised.value.exception_list] == ["original/corpus/bad.txt"]
    assert "cannot version" in raised.value.exception_list[0].msg
    written = sorted(os.path.relpath(os.path.join(folder, name), project / "versions")
                     for folder, _, names in os.walk(project / "versions") for name in names)
    assert written == ["corpus/a.txt", "corpus/sub/b.txt", "top.txt"]  # no bad.txt, no staging
    assert not [d for _, dirs, _ in os.walk(project / "versions") for d in dirs
                if d.startswith(".enb-version")]


def test_a_second_run_versions_nothing(project):
    make(Lowercase, project).get_df()
    output = project / "versions" / "corpus" / "a.txt"
    os.utime(output, (1, 1))
    table = make(Lowercase, project)
    df = table.get_df()
    assert table.last_report.computed == 0 and table.last_report.loaded == 3
    assert os.stat(output).st_mtime == 1 and len(df) == 3


def test_a_file_already_versioned_is_kept_unless_overwrite_is_asked(project):
    (project / "versions" / "corpus").mkdir(parents=True)
    kept = project / "versions" / "corpus" / "a.txt"
    kept.write_text("done before\n")
    df = make(Lowercase, project, ).get_df()  # no stored row, but the version exists
    assert kept.read_text() == "done before\n"
    assert math.isnan(df.set_index("file_path").loc["original/corpus/a.txt", "version_time"])
    make(Lowercase, project).get_df(overwrite=True)
    assert kept.read_text() == "partial hello a\n"


def test_a_version_that_writes_nothing_fails_unless_not_checked(project):
    with pytest.raises(enb.atable.ColumnFailedError, match="wrote no file"):
        make(WritesNothing, project).get_df()
    df = WritesNothing(original_base_dir="original", version_base_dir="empty",
                       csv_support_path="", check_generated_files=False).get_df()
    assert len(df) == 3


def test_outputs_under_other_names_are_moved_into_place(project):
    make(Renames, project, check_generated_files=False).get_df()
    assert (project / "versions" / "corpus" / "a.raw").read_text() == str(len("Hello A\n"))
    assert not (project / "versions" / "corpus" / "a.txt").exists()


def test_the_default_version_folder_is_under_base_version_dataset_dir(project):
    table = Lowercase(original_base_dir="original", version_name="v1", csv_support_path="")
    assert table.version_base_dir == str(project / "versioned_datasets" / "v1")
    table.get_df()
    assert (project / "versioned_datasets" / "v1" / "top.txt").exists()


def test_the_same_script_from_another_folder_writes_the_same_places(tmp_path):
    project = tmp_path / "project"
    (project / "original_data").mkdir(parents=True)
    (project / "original_data" / "kitten.txt").write_text("A Kitten\n")
    (tmp_path / "elsewhere").mkdir()
    script = project / "normalize.py"
    script.write_text(textwrap.dedent("""
        import enb

        class TextNormalizationTable(enb.sets.FileVersionTable):
            dataset_files_extension = "txt"

            def version(self, input_path, output_path, row):
                with open(input_path) as i, open(output_path, "w") as o:
                    o.write(i.read().lower())

        if __name__ == "__main__":
            df = TextNormalizationTable(original_base_dir="original_data",
                                        version_base_dir="versioned_data").get_df()
            print(df[["file_path", "original_file_path", "corpus"]].to_csv(index=False))
    """))
    env = {k: v for k, v in os.environ.items() if k != "ENB_IGNORE_ARGV"}
    env["PYTHONPATH"] = REPO
    outputs = []
    for cwd in (tmp_path / "elsewhere", project):
        done = subprocess.run([sys.executable, str(script), "-f"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert "original_data/kitten.txt,original_data/kitten.txt,original_data" in outputs[0]
    assert (project / "versioned_data" / "kitten.txt").read_text() == "a kitten\n"
    assert os.listdir(tmp_path / "elsewhere") == []
    assert sorted(os.listdir(project)) == ["normalize.py", "original_data", "persistence",
                                           "versioned_data"]

"""enb 1.x's SummaryTable and FileVersionTable on every executor (the cluster's too)."""
import os

import pandas as pd

import enb


class Stats(enb.atable.SummaryTable):
    def column_mean(self, index, row):
        return float(self.label_to_df[index]["value"].mean())

    def column_node(self, index, row):
        return enb.misc.get_node_ip()


class Upper(enb.sets.FileVersionTable):
    dataset_files_extension = "txt"

    def version(self, input_path, output_path, row):
        if "FAIL" in open(input_path).read():
            with open(output_path, "w") as half:
                half.write("half")
            raise ValueError("this one fails")
        with open(input_path) as source, open(output_path, "w") as target:
            target.write(source.read().upper() + enb.misc.get_node_ip())


def test_a_summary_runs_through_the_executor(executor, project):
    reference = pd.DataFrame({"group": [i % 7 for i in range(7000)],
                              "value": [float(i) for i in range(7000)]})
    table = Stats(reference_df=reference, group_by="group", include_all_group=True)
    df = table.get_df()
    expected = reference.groupby("group")["value"].mean()
    assert list(df["group_label"]) == [str(g) for g in range(7)] + ["All"]
    assert list(df["mean"])[:-1] == list(expected) and df.iloc[-1]["mean"] == 3499.5
    assert list(df["group_size"]) == [1000] * 7 + [7000]
    assert table.last_report.executor == executor


def test_versions_land_in_the_projects_folder(executor, project):
    originals = project / "original"
    (originals / "c").mkdir(parents=True)
    for i in range(8):
        (originals / "c" / f"f{i}.txt").write_text(f"file {i}\n")
    (originals / "bad.txt").write_text("FAIL\n")
    table = Upper(original_base_dir=str(originals), version_base_dir=str(project / "versions"),
                  csv_support_path=str(project / "versions.csv"))
    try:
        table.get_df()
    except enb.atable.ColumnFailedError as error:
        assert [e.index for e in error.exception_list] == [
            os.path.relpath(originals / "bad.txt", enb.config.options.project_root)]
    written = sorted(os.listdir(project / "versions" / "c"))
    assert written == [f"f{i}.txt" for i in range(8)]
    assert not (project / "versions" / "bad.txt").exists()
    assert [n for n in os.listdir(project / "versions") if n.startswith(".")] == []
    for i in range(8):
        text = (project / "versions" / "c" / f"f{i}.txt").read_text()
        assert text.startswith(f"FILE {i}\n")
    # a second run versions nothing: every row is loaded, no file is touched
    before = {p: os.stat(p).st_mtime_ns for p in (project / "versions" / "c").iterdir()}
    again = Upper(original_base_dir=str(originals), version_base_dir=str(project / "versions"),
                  csv_support_path=str(project / "versions.csv"))
    df = again.get_df(target_indices=[str(originals / "c" / f"f{i}.txt") for i in range(8)])
    assert again.last_report.computed == 0 and len(df) == 8
    assert before == {p: os.stat(p).st_mtime_ns for p in (project / "versions" / "c").iterdir()}

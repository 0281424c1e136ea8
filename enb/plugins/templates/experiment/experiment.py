#!/usr/bin/env python3
"""An enb experiment: every dataset file times every task, then an analysis of the results.

See README.md beside this file.
"""
import enb
from enb.config import options

import plugins  # noqa: F401 -- the plugins installed under plugins/ (codecs, ...)


class MyTask(enb.experiment.ExperimentTask):
    """What changes between the rows of one file: its parameters are ``self.param_dict``."""


class MyExperiment(enb.experiment.Experiment):
    """One row per (file, task); each column_* method or column_function is a column."""

    def column_parameter_count(self, index, row):
        """A method named column_<name> returns the value of column <name>."""
        path, task = self.index_to_path_task(index)
        return len(task.param_dict)

    @enb.atable.column_function(enb.atable.ColumnProperties(
        name="file_and_name_length", label="File size + task name length", plot_min=0))
    def set_file_and_name_length(self, index, row):
        """A column_function sets its columns in ``row``; earlier columns are there already."""
        path, task = self.index_to_path_task(index)
        row[_column_name] = row["parameter_count"] + len(task.name) + \
            self.get_dataset_info_row(path)["size_bytes"]


if __name__ == "__main__":
    tasks = [MyTask(param_dict={"key1": "value1"}),
             MyTask(param_dict={"key2": "value2", "key3": "value3"}),
             MyTask()]
    # Files come from options.base_dataset_dir (datasets/ beside this script by default).
    experiment = MyExperiment(tasks=tasks)
    df = experiment.get_df()

    # Statistics per task (CSV and LaTeX under analysis/) and plots (PDF and PNG under plots/);
    # the experiment's column properties (its own and its dataset table's) label the plots.
    properties = experiment.joined_column_to_properties
    enb.aanalysis.ScalarNumericAnalyzer().get_df(
        full_df=df, target_columns=["parameter_count", "file_and_name_length"],
        group_by="task_label", column_to_properties=properties)
    enb.aanalysis.TwoNumericAnalyzer().get_df(
        full_df=df, target_columns=[("parameter_count", "file_and_name_length")],
        group_by="task_label", selected_render_modes={"scatter"},
        column_to_properties=properties)

    print(f"Experiment complete: tables in {options.analysis_dir}, plots in {options.plot_dir} "
          f"(all on one page: {options.analysis_dir}/index.html), results kept in "
          f"{options.persistence_dir}.")

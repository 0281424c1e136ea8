"""Experiments: rows are dataset files x tasks (enb 1.x compatible)."""
from __future__ import annotations

import collections
import inspect
import itertools
import logging
import os
import pickle
import time

from . import atable, sets
from .config import options

logger = logging.getLogger(__name__)


class ExperimentTask:
    """One configuration of what an experiment does to each file, named after its parameters."""

    def __init__(self, param_dict=None):
        self.param_dict = dict(param_dict) if param_dict is not None else {}

    def apply(self, experiment, index, row):
        """Run the task on a row before the other columns are computed (optional)."""

    @property
    def name(self) -> str:
        name = self.__class__.__name__
        if self.param_dict:
            name += "__" + "_".join(f"{k}={v}" for k, v in sorted(self.param_dict.items()))
        return name

    @property
    def label(self) -> str:
        return self.name

    def __eq__(self, other):
        try:
            return (type(self) is type(other)
                    and all(v == other.param_dict[k] for k, v in self.param_dict.items())
                    and all(self.param_dict[k] == v for k, v in other.param_dict.items()))
        except (KeyError, AttributeError):
            return False

    def __hash__(self):
        return hash(tuple(sorted(self.param_dict.items())))

    def __repr__(self):
        params = ", ".join(f"{k!r}={v!r}" for k, v in self.param_dict.items())
        return f"<{self.__class__.__name__} ({params})>"


class TaskFamily:
    """A labelled, ordered group of task names (for analysis)."""

    def __init__(self, label, task_names=None, name_to_label=None):
        self.label = label
        self.task_names = list(task_names) if task_names is not None else []
        self.name_to_label = dict(name_to_label) if name_to_label is not None else {}

    def add_task(self, task_name, task_label=None):
        task_name = getattr(task_name, "name", task_name)
        if task_name in self.task_names:
            raise ValueError(f"task {task_name!r} is already in family {self.label!r}")
        self.task_names.append(task_name)
        if task_label:
            self.name_to_label[task_name] = task_label


class _PickledFrame:
    """A DataFrame that travels pickled and is unpickled (importing pandas) when first read."""

    def __init__(self, frame):
        self.data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self):
        return pickle.loads(self.data)


class Experiment(atable.ATable):
    """A table indexed by (file_path, task_name): every dataset file times every task.

    The dataset files' properties (a FilePropertiesTable) are computed first and joined to
    the results returned by :meth:`get_df` (they are not stored in the experiment's CSV).
    Their DataFrame, :attr:`dataset_table_df`, travels with the experiment to ray's workers
    but is only unpickled where a column function reads it: a fresh worker whose column
    functions never do imports no pandas (~0.1 CPU-s and ~40 MB each).
    """
    task_name_column = "task_name"
    task_label_column = "task_label"
    task_apply_time_column = "task_apply_time"
    default_file_properties_table_class = sets.FilePropertiesTable
    no_family_label = "No family"

    def __init__(self, tasks, dataset_paths=None, csv_experiment_path=None,
                 csv_dataset_path=None, dataset_info_table=None,
                 overwrite_file_properties=False, task_families=None):
        overwrite_file_properties = overwrite_file_properties \
            if overwrite_file_properties is not None else bool(options.force)
        self.tasks = list(tasks)
        self.tasks_by_name = collections.OrderedDict((str(t.name), t) for t in self.tasks)
        self.task_families = task_families
        self.task_name_to_family_label = {}
        for family in task_families or ():
            for task_name in family.task_names:
                if task_name in self.task_name_to_family_label:
                    raise ValueError(f"task {task_name!r} of family {family.label!r} is already in "
                                     f"family {self.task_name_to_family_label[task_name]!r}")
                self.task_name_to_family_label[task_name] = family.label
        if dataset_paths is not None:
            dataset_paths = [atable.get_canonical_path(p) for p in dataset_paths]
        else:
            dataset_paths = atable.get_all_input_files(ext=self.dataset_files_extension)
        persistence_dir = options.resolved_persistence_dir()
        if csv_dataset_path is None:
            csv_dataset_path = os.path.join(
                persistence_dir, f"{self.__class__.__name__}_dataset_persistence.csv")
        if dataset_info_table is None:
            dataset_info_table = self.default_file_properties_table_class(
                csv_support_path=csv_dataset_path)
        elif inspect.isclass(dataset_info_table):
            dataset_info_table = dataset_info_table(csv_support_path=csv_dataset_path)
        self.dataset_info_table = dataset_info_table
        self.dataset_info_table.ignored_columns = list(
            set(self.dataset_info_table.ignored_columns) | set(self.ignored_columns))
        if len(self.dataset_info_table.indices) != 1:
            raise ValueError("the dataset_info_table must have a single index (the file path)")
        self.dataset_table_df = self.dataset_info_table.get_df(
            target_indices=dataset_paths, overwrite=overwrite_file_properties, fill=True)
        self.target_file_paths = dataset_paths
        if csv_experiment_path is None:
            csv_experiment_path = os.path.join(persistence_dir,
                                               f"persistence_{self.__class__.__name__}.csv")
        super().__init__(csv_support_path=csv_experiment_path,
                         index=self.dataset_info_table.indices + [self.task_name_column])

    def get_df(self, target_indices=None, target_columns=None, fill=True, overwrite=None,
               chunk_size=None):
        """Return the results for ``target_indices`` (file paths; default: all) x every task,
        with the dataset files' properties joined."""
        if not self.tasks:
            raise ValueError(f"no tasks were defined for {self.__class__.__name__}")
        target_indices = atable.check_target_indices(self, target_indices)
        paths = self.target_file_paths if target_indices is None else \
            [atable.get_canonical_path(p) if os.path.exists(p) else p for p in target_indices]
        targets = list(itertools.product(sorted(set(paths)), sorted(self.tasks_by_name)))
        df = super().get_df(target_indices=targets, target_columns=target_columns, fill=fill,
                            overwrite=overwrite, chunk_size=chunk_size)
        dataset = self.dataset_table_df.set_index(self.dataset_info_table.index)
        path_column = df[self.dataset_info_table.index]
        for column in dataset.columns:
            if column not in df.columns:
                df[column] = path_column.map(dataset[column])
        return df

    def index_to_path_task(self, index):
        """Return (file path, task) of a row index."""
        return index[0], self.tasks_by_name[index[1]]

    def get_dataset_info_row(self, file_path):
        return self.get_dataset_df().loc[atable.indices_to_internal_loc(file_path)]

    def get_dataset_df(self):
        return self.dataset_table_df

    @property
    def dataset_table_df(self):
        """The dataset files' properties (a DataFrame indexed as the dataset table's CSV)."""
        frame = self.__dict__.get("_dataset_table_df")
        if isinstance(frame, _PickledFrame):
            frame = self.__dict__["_dataset_table_df"] = frame.load()
        return frame

    @dataset_table_df.setter
    def dataset_table_df(self, frame):
        self.__dict__["_dataset_table_df"] = frame

    def __getstate__(self):
        state = super().__getstate__()
        frame = state.get("_dataset_table_df")
        if frame is not None and not isinstance(frame, _PickledFrame):
            state["_dataset_table_df"] = _PickledFrame(frame)
        return state

    @property
    def joined_column_to_properties(self):
        properties = dict(self.dataset_info_table.column_to_properties)
        properties.update(self.column_to_properties)
        return properties

    @atable.column_function(task_apply_time_column)
    def set_task_apply_time(self, index, row):
        _, task = self.index_to_path_task(index)
        before = time.process_time()
        task.apply(self, index, row)
        row[_column_name] = max(0.0, time.process_time() - before)

    @atable.column_function(task_label_column)
    def set_task_label(self, index, row):
        row[_column_name] = self.index_to_path_task(index)[1].label

    @atable.column_function(atable.ColumnProperties("param_dict", has_dict_values=True))
    def set_param_dict(self, index, row):
        row[_column_name] = self.index_to_path_task(index)[1].param_dict

    @atable.column_function("family_label")
    def set_family_label(self, index, row):
        task = self.index_to_path_task(index)[1]
        row[_column_name] = self.task_name_to_family_label.get(task.name, self.no_family_label)

"""Small tables shared by the tests (module-level, so every executor can ship them)."""
import os

import enb


class Trivial(enb.atable.ATable):
    def column_double(self, index, row):
        return 2 * index

    def column_plus_one(self, index, row):
        return row["double"] + 1

    def column_text(self, index, row):
        return f"#{index}"


class FailsOnMultiplesOfSeven(enb.atable.ATable):
    def column_value(self, index, row):
        if index % 7 == 0:
            raise ValueError(f"seven divides {index}")
        return index


class Sleeper(enb.atable.ATable):
    """Rows that take a while, to interrupt a run half-way."""
    def column_slow(self, index, row):
        import time
        time.sleep(float(os.environ.get("ENB_TEST_ROW_SECONDS", "0.05")))
        return index


class WhereAmI(enb.atable.ATable):
    def column_pid(self, index, row):
        return os.getpid()

    def column_cwd(self, index, row):
        return os.getcwd()

    def column_node(self, index, row):
        return enb.misc.get_node_ip()

    def column_random(self, index, row):
        import random
        return random.random()


class DatasetAware(enb.experiment.Experiment):
    """Column functions that read the dataset table (its DataFrame travels with the experiment)."""
    row_seconds = 0.0

    def column_file_size(self, index, row):
        import time
        time.sleep(self.row_seconds)
        path, _ = self.index_to_path_task(index)
        return int(self.get_dataset_info_row(path)["size_bytes"])

    def column_node(self, index, row):
        return enb.misc.get_node_ip()

    def column_worker_has_pandas(self, index, row):
        import sys
        return "pandas" in sys.modules


class WritesToOptionFolder(enb.atable.ATable):
    """Writes a file per row into ``--reconstructed_dir`` (a folder of the head's project)."""
    row_seconds = 0.0

    def column_written(self, index, row):
        import time
        time.sleep(self.row_seconds)
        path = os.path.join(enb.config.options.reconstructed_dir, f"row-{index}.txt")
        with open(path, "w") as handle:
            handle.write(enb.misc.get_node_ip())
        return path

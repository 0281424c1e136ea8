#!/usr/bin/env python3
"""Approximate pi with the Monte Carlo method: one estimate per row of an enb experiment.

Run it on this computer:
    python montecarlo_pi_experiment.py
Run it on a cluster (list the remote nodes in enb_cluster.csv first):
    python montecarlo_pi_experiment.py --ssh_cluster_csv_path=enb_cluster.csv

Results are saved under persistence/; running again loads them instead of computing them.
The environment variables ENB_MP_ROWS and ENB_MP_SAMPLES change the number of estimates
and the samples drawn for each.
"""
import os

import numpy as np

import enb

#: Number of independent estimates, one row each.
ESTIMATE_COUNT = int(os.environ.get("ENB_MP_ROWS", 128))
#: Random points drawn for each estimate.
SAMPLES_PER_ESTIMATE = int(os.environ.get("ENB_MP_SAMPLES", 10_000_000))
#: Points drawn at once: memory stays near 40 MB per worker whatever the sample count.
BLOCK_SIZE = 1_000_000


def estimate_pi(sample_count, rng, block_size=BLOCK_SIZE):
    """Return 4 times the fraction of random points of the unit square inside the unit circle."""
    inside = 0
    remaining = sample_count
    while remaining > 0:
        size = min(block_size, remaining)
        x = rng.random(size)
        y = rng.random(size)
        inside += int(np.count_nonzero(x * x + y * y <= 1.0))
        remaining -= size
    return 4 * inside / sample_count


class MontecarloPiExperiment(enb.experiment.Experiment):
    """Each row (one task) makes one estimate of pi."""

    def column_sample_size(self, index, row):
        """Number of random points used for this estimate."""
        return self.index_to_path_task(index)[1].param_dict["sample_size"]

    def column_estimated_pi_value(self, index, row):
        """Monte Carlo estimate of pi."""
        # A generator of its own per row, seeded by the operating system: estimates stay
        # independent whichever process, fork or node computes them.
        sample_size = self.index_to_path_task(index)[1].param_dict["sample_size"]
        return estimate_pi(sample_size, np.random.default_rng())

    def column_computed_on_ip(self, index, row):
        """Address of the node that computed this row."""
        return enb.misc.get_node_ip()


def banner():
    """Return the one-line enb banner."""
    return f"{'.' * 12} [ Powered by enb (Experiment NoteBook) v{enb.__version__} ] {'.' * 12}"


def main():
    print(banner())
    print()
    if enb.config.options.ssh_cluster_csv_path:
        print(f"Using cluster configuration file at {enb.config.options.ssh_cluster_csv_path}")
    else:
        print("enb.config.options.ssh_cluster_csv_path is not set. "
              "You can do so with --ssh_cluster_csv_path=enb_cluster.csv.")

    experiment = MontecarloPiExperiment(tasks=[
        enb.experiment.ExperimentTask(dict(label=i, sample_size=SAMPLES_PER_ESTIMATE))
        for i in range(ESTIMATE_COUNT)])
    df = experiment.get_df()

    total_samples = int(df["sample_size"].sum())
    pi = float((df["estimated_pi_value"] * df["sample_size"]).sum() / total_samples)
    node_count = df["computed_on_ip"].nunique()
    print(f"Computed pi ~ {pi} using {total_samples} total samples on {node_count} nodes.")


if __name__ == "__main__":
    main()

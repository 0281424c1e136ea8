"""enb's benchmark suite: ours against enb 1.1.3 and the ideal. Run ``python -m benchmarks``."""

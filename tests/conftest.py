"""Suite-wide settings. The suite runs on 2 pytest-xdist workers (``-n 2`` in pyproject.toml): each
worker, and every process it starts (recipes, torchrun), uses ONE torch/OpenMP thread, so two
workers never oversubscribe a 2-core machine (OpenMP threads waiting on descheduled peers)."""
import os


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
        torch.set_num_threads(1)

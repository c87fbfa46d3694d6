#!/usr/bin/env python3
"""Emomusic static arousal and valence (regression, MARBLE's split). Usage:

    python recipes/Emomusic/regression/train.py recipes/Emomusic/regression/hparams/default.yaml --data_folder=/data/emomusic [--overrides]

See recipes/Emomusic/README.md (layout, split, metrics).

hparams/*.yaml hold every object (backbone, PETL method, head, optimiser, loss, augmentation...);
the Brain is this task's own (the only regression recipe): ``compute_cost`` (MSE by default)
compares the outputs with the standardised targets; the task reports R² and Pearson's r in the
annotation's units.
"""
import sys

from petl_core.datasets.emomusic import prepare
from petl_core.recipe import RecipeBrain, prepare_datasets


class RegressionBrain(RecipeBrain):
    """Regression: one output per target, trained on targets standardised with the training set."""

    def targets(self, labels):
        """``(y - mean) / std`` per target (the task's statistics, fitted on the training manifest)."""
        return self.task.standardized(labels)


def dataio_prep(hparams):
    """Emomusic clips as manifests (labels ``arousal;valence``); datasets of (audio, [arousal, valence])."""
    return prepare_datasets(hparams, prepare)


if __name__ == "__main__":
    hparams, run_opts = RegressionBrain.setup(sys.argv[1:])
    datasets = dataio_prep(hparams)
    RegressionBrain(hparams, run_opts).fit_and_test(datasets)

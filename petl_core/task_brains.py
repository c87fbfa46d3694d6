"""The Brain of each task type that several recipes share (a recipe's ``train.py`` imports it).

Each says what its task's loss compares the logits with; everything else is
:class:`petl_core.recipe.RecipeBrain`'s. A batch carries ``sig`` (audio) and ``label_enc``
(the task's encoding of the label, after augmentation: a pitch shift rotates a key, a time stretch
scales a BPM — :meth:`petl_core.tasks.Task.transform`). A task type with one recipe defines its
Brain in that recipe's ``train.py`` instead (docs/adding_a_recipe.md).

Example:
    >>> import torch
    >>> from petl_core.tasks import TempoTask
    >>> brain = TempoBrain.__new__(TempoBrain)
    >>> brain.task = TempoTask(grid="log")
    >>> brain.targets(torch.tensor([120.0])).sum().item()
    1.0
"""
from __future__ import annotations

from petl_core.recipe import RecipeBrain


class ClassificationBrain(RecipeBrain):
    """Single-label classification (and key estimation, 24 classes): class indices."""

    def targets(self, labels):
        """The class index of each clip (``compute_cost``: cross-entropy)."""
        return labels


#: key estimation is 24-class classification; the key rotation under pitch shift is KeyTask's
KeyBrain = ClassificationBrain


class TaggingBrain(RecipeBrain):
    """Multi-label tagging: multi-hot targets (``compute_cost``: binary cross-entropy)."""

    def targets(self, labels):
        """The clip's tags as a float multi-hot vector."""
        return labels.float()


class TempoBrain(RecipeBrain):
    """Tempo as classification over BPM bins: soft target distributions around the true BPM."""

    def targets(self, labels):
        """Each clip's BPM as a distribution over the task's bins (``compute_cost``: cross-entropy)."""
        return self.task.soft_targets(labels)

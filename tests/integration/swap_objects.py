"""Objects a user names in a recipe's yaml (tests/integration/test_recipe_form.py): a loss and a
SpeechBrain-style augmentation that count their calls."""
import torch

CALLS = {"cost": 0, "augmentation": 0}


def counting_cost(logits, targets):
    """Multi-class hinge loss (not the recipe's cross-entropy), counted."""
    CALLS["cost"] += 1
    return torch.nn.functional.multi_margin_loss(logits, targets)


class PolarityFlip(torch.nn.Module):
    """A SpeechBrain-style augmentation ``aug(wavs, lens) -> wavs``: the waveforms negated."""

    def forward(self, wavs, lens):
        CALLS["augmentation"] += 1
        return -wavs

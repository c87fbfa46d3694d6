"""Core of the PETL audio toolkit: the training core (run flow, Brains, tasks, metrics) and the datasets.

* the run flow of a recipe and its entry point: :mod:`petl_core.recipe`;
* the training mechanics: :mod:`petl_core.brain`; the clip and frame Brains:
  :mod:`petl_core.clip_brain`, :mod:`petl_core.frame_brain`; the objects built from a yaml:
  :mod:`petl_core.build`;
* task types (labels, loss targets, label transforms, metrics): :mod:`petl_core.tasks`,
  :mod:`petl_core.frame_tasks`, :mod:`petl_core.beat`, :mod:`petl_core.chord`; metrics:
  :mod:`petl_core.metrics`;
* hparams: :mod:`petl_core.config`, :mod:`petl_core.yaml_pieces`; errors: :mod:`petl_core.errors`;
* data: :mod:`petl_core.data`, :mod:`petl_core.manifest`, :mod:`petl_core.datasets`,
  :mod:`petl_core.few_shot`; checkpoints, DDP, output folders, results, inference:
  :mod:`petl_core.checkpointing`, :mod:`petl_core.distributed`, :mod:`petl_core.output_folder`,
  :mod:`petl_core.results`, :mod:`petl_core.inference`.
"""
import logging


class _SpeechBrainNotice(logging.Filter):
    """Drops the one notice SpeechBrain logs when ``speechbrain.utils.train_logger`` is imported
    (the yaml's ``FileTrainLogger``): "torchvision is not available - cannot save figures". The
    toolkit saves no figures through it, so every run would print a warning about nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("torchvision is not available")


logging.getLogger("speechbrain.utils.train_logger").addFilter(_SpeechBrainNotice())

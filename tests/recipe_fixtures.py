"""A minimal recipe yaml in the toolkit's form, for tests that bring their own manifests (no
prepare): ``MINIMAL.format(out=..., data=..., common=COMMON)`` (import as a module).

Tiny MusicFM (random weights) + LoRA (the piece: rank 8), a linear head, classification from
``<data>/{train,valid,test}.csv``; ``--backbone``/``--method`` switch the pieces as in every recipe.
"""
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
COMMON = os.path.join(REPO, "recipes", "hparams_common")

MINIMAL = """
seed: 3
__set_seed: !apply:speechbrain.utils.seed.seed_everything [!ref <seed>, False]
output_folder: {out}
data_folder: {data}
train_csv: {data}/train.csv
valid_csv: {data}/valid.csv
test_csv: {data}/test.csv
backbone: tiny_musicfm
method: lora
encoder: !include:{common}/backbones/<backbone>.yaml {{}}
petl: !include:{common}/methods/<method>.yaml {{}}
petl_state: !apply:petl_modules.apply_petl
    backbone: !ref <encoder>
    method: !ref <petl[name]>
    options: !ref <petl[options]>
head: !name:lobes.heads.LinearHead
layer: null
task: !new:petl_core.tasks.ClassificationTask
compute_cost: !name:torch.nn.functional.cross_entropy
augmentation: null
number_of_epochs: 2
num_threads: 1
train_dataloader_opts: {{batch_size: 4}}
valid_dataloader_opts: {{batch_size: 3}}
opt_class: !name:torch.optim.AdamW {{lr: 0.003}}
lr_annealing: null
crop_seconds: 0.6
eval_window_seconds: 0.4
max_valid_seconds: null
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter {{limit: !ref <number_of_epochs>}}
checkpointer: !new:petl_core.checkpointing.AtomicCheckpointer
    checkpoints_dir: !ref <output_folder>/save
    recoverables: {{counter: !ref <epoch_counter>}}
train_logger: !new:speechbrain.utils.train_logger.FileTrainLogger {{save_file: !ref <output_folder>/train_log.txt}}
few_shot_k: 0
few_shot_seed: 0
bootstrap_resamples: 20
"""


def run_in_process(brain_class, argv, recipe_file=None):
    """What a clip recipe's train.py does (``recipe_main``: setup, data, Brain, fit and test), in
    this process: a user's problem is ``SystemExit`` with one ``error:`` line on stderr."""
    import logging

    from petl_core.recipe import clip_datasets, fit_and_test, recipe_main, setup

    try:
        with recipe_main():
            hparams, run_opts = setup(argv, brain_class, recipe_file=recipe_file)
            data = clip_datasets(hparams)
            return fit_and_test(brain_class.from_hparams(hparams, run_opts, data.task), data)
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):  # SpeechBrain adds console/file handlers
            root.removeHandler(handler)

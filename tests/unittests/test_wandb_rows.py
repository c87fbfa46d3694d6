"""W&B rows: the final evaluations of the best checkpoint never overwrite an epoch's row."""
import glob
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))  # the W&B run-file reader


@pytest.mark.parametrize("closed", [False, True])
def test_final_evaluations_get_rows_of_their_own(tmp_path, monkeypatch, closed):
    """As the Brain logs (two epochs, then the best checkpoint's valid and test evaluations without a
    step): without :func:`close_epoch_row` W&B merges the final valid values into epoch 2's row."""
    import wandb
    from speechbrain.utils.train_logger import WandBLogger
    from test_tracking import wandb_history

    from petl_core.brain import close_epoch_row

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandBLogger(initializer=wandb.init, project="rows", dir=str(tmp_path))
    for epoch, valid_loss in ((1, 0.5), (2, 0.7)):
        logger.log_stats({"epoch": epoch}, train_stats={"loss": 1.0 / epoch}, valid_stats={"loss": valid_loss})
    if closed:
        close_epoch_row(logger)
    logger.log_stats({"Epoch loaded": 1}, valid_stats={"loss": 0.5})
    logger.log_stats({"Epoch loaded": 1}, test_stats={"loss": 0.6})
    logger.run.finish()
    (run_file,) = glob.glob(os.path.join(str(tmp_path), "wandb", "offline-run-*", "run-*.wandb"))
    rows = wandb_history(run_file)
    epoch_rows = {row["epoch"]: row["valid/loss"] for row in rows if "epoch" in row}
    assert (epoch_rows == {1: 0.5, 2: 0.7}) == closed  # SpeechBrain's logging alone overwrites epoch 2's
    if closed:
        assert [row.get("valid/loss") for row in rows if "Epoch loaded" in row] == [0.5, None]

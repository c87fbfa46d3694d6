"""W&B rows: the final evaluations of the best checkpoint never overwrite an epoch's row."""
import glob
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))  # the W&B run-file reader

# As the Brain logs: two epochs, then the best checkpoint's valid and test evaluations without a step.
# In a process of its own: W&B's service has written the whole run file when the process has ended.
LOG_AS_THE_BRAIN = """
import sys
import wandb
from speechbrain.utils.train_logger import WandBLogger
from petl_core.brain import close_epoch_row

logger = WandBLogger(initializer=wandb.init, project="rows", dir=sys.argv[1])
for epoch, valid_loss in ((1, 0.5), (2, 0.7)):
    logger.log_stats({"epoch": epoch}, train_stats={"loss": 1.0 / epoch}, valid_stats={"loss": valid_loss})
if sys.argv[2] == "closed":
    close_epoch_row(logger)
logger.log_stats({"Epoch loaded": 1}, valid_stats={"loss": 0.5})
logger.log_stats({"Epoch loaded": 1}, test_stats={"loss": 0.6})
logger.run.finish()
"""


@pytest.mark.parametrize("closed", [False, True])
def test_final_evaluations_get_rows_of_their_own(tmp_path, closed):
    """Without :func:`close_epoch_row` W&B merges the final valid values into epoch 2's row."""
    from test_tracking import wandb_history

    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    subprocess.run([sys.executable, "-c", LOG_AS_THE_BRAIN, str(tmp_path), "closed" if closed else "open"],
                   env=env, check=True, timeout=300)
    (run_file,) = glob.glob(os.path.join(str(tmp_path), "wandb", "offline-run-*", "run-*.wandb"))
    rows = wandb_history(run_file)
    epoch_rows = {row["epoch"]: row["valid/loss"] for row in rows if "epoch" in row}
    if not closed:  # SpeechBrain's logging alone overwrites epoch 2's valid loss with the final one
        assert epoch_rows[1] == 0.5 and epoch_rows[2] != 0.7
        return
    assert epoch_rows == {1: 0.5, 2: 0.7}
    assert [row.get("valid/loss") for row in rows if "Epoch loaded" in row] == [0.5, None]

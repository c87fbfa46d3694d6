"""torchrun with 2 CPU processes (gloo), as a real run: 3 epochs with checkpoints saved, kept and
deleted by ranks that agree, disjoint training data, files written once, sharded evaluation equal to
a single-process evaluation of the same checkpoint, a kill -9 of the whole job resumed under
torchrun with the results of the uninterrupted run, and full fine-tuning of the MusicFM
architecture (every trainable tensor used: DDP with ``find_unused_parameters=False``)."""
import json
import os
import signal

import pytest

from conftest import run_recipe
from launch import (TINY, assert_resumed_after_the_checkpoint, children, ddp, intra_epoch_after_an_epoch,
                    items_consumed_by_newest_checkpoint, kill_9, logged_epochs, recorded_items, start_recipe,
                    torchrun, wait_gone, wait_until)

LORA = [*TINY, "--method=lora", "--petl={options: {rank: 2}}", "--number_of_epochs=3", "--ckpt_interval_steps=1",
        "--augmentation={pitch_shift: {prob: 0.5, semitones: [-2, -1, 1, 2]}}"]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, synth_data):
    out = str(tmp_path_factory.mktemp("ddp") / "lora")
    return out, ddp(out, synth_data, *LORA, "--record_train_ids=true")


def test_three_epochs_with_checkpoint_deletion(lora_run):
    out, res = lora_run
    assert res["world_size"] == 2 and res["status"] == "ok" and res["epochs"] == 3
    # each rank saw its own half of the training set, together all of it, exactly once per epoch
    ids = {}
    for rank in (0, 1):
        with open(os.path.join(out, f"train_ids_rank{rank}.txt")) as f:
            ids[rank] = [line.split() for line in f if line.strip()]
    for epoch in ("1", "2", "3"):
        mine = [[i for e, i in ids[rank] if e == epoch] for rank in (0, 1)]
        assert len(mine[0]) == len(mine[1]) == 8
        assert not set(mine[0]) & set(mine[1]) and len(set(mine[0]) | set(mine[1])) == 16
    # intra-epoch checkpoints after every step, deleted at each epoch's end: the best and the latest
    # end-of-epoch checkpoints remain (one folder when the best is the latest), never a partial one
    log = open(os.path.join(out, "log.txt")).read()
    assert log.count("Deleted checkpoint in") >= 3  # at least the intra-epoch one at each epoch end
    kept = [d for d in os.listdir(os.path.join(out, "save")) if d.startswith("CKPT")]
    metas = [open(os.path.join(out, "save", d, "CKPT.yaml")).read() for d in kept]
    assert 1 <= len(kept) <= 2 and all("end-of-epoch: true" in m for m in metas)
    assert not [d for d in os.listdir(os.path.join(out, "save")) if d.startswith(".partial")]
    # written once: one results file, one log line per epoch, final evaluations labelled by their set
    assert sorted(f for f in os.listdir(out) if f.startswith("results")) == ["results.json"]
    lines = open(os.path.join(out, "train_log.txt")).read().splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == ["epoch: 1", "epoch: 2", "epoch: 3"]
    assert "valid loss" in lines[3] and "test" not in lines[3] and "test loss" in lines[4]
    # sharded evaluation: every item exactly once (7 and 5, no padding duplicates)
    assert res["n_items"] == {"valid": 7, "test": 5}


def test_sharded_evaluation_equals_a_single_process(lora_run, synth_data):
    out, res = lora_run
    single = run_recipe("key", out, synth_data, *LORA, "--test_only", "--results_file=results_single.json",
                        timeout=120)
    assert single.returncode == 0
    res1 = json.load(open(os.path.join(out, "results_single.json")))
    assert res1["world_size"] == 1 and res1["n_items"] == res["n_items"]
    for split in ("valid", "test"):
        assert res[split].keys() == res1[split].keys()
        for name, value in res[split].items():
            assert abs(value - res1[split][name]) < 1e-5, (split, name, value, res1[split][name])
    for name, (lo, hi) in res["test_ci95"].items():  # the bootstrap sees the same items in the same order
        assert abs(lo - res1["test_ci95"][name][0]) < 1e-5 and abs(hi - res1["test_ci95"][name][1]) < 1e-5


def test_kill_9_under_torchrun_resumes_with_identical_results(lora_run, synth_data, tmp_path):
    reference_out, reference = lora_run
    out = str(tmp_path / "killed")
    proc = start_recipe("key", out, synth_data, *LORA, "--record_train_ids=true", "--distributed_backend=gloo",
                        launcher=torchrun())
    save = os.path.join(out, "save")
    wait_until(lambda: intra_epoch_after_an_epoch(save), lambda: proc.poll() is None, 240,
               "no intra-epoch checkpoint after the first epoch appeared")
    ranks = children(proc.pid)
    assert len(ranks) == 2, ranks
    kill_9([*ranks, proc.pid])  # both ranks and the launcher, as a lost node
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    wait_gone(ranks)
    assert not os.path.exists(os.path.join(out, "results.json"))
    # per rank: 8 of the 16 training items an epoch, batches of 4
    consumed = items_consumed_by_newest_checkpoint(save, items_per_epoch=8, batch_size=4)
    items_at_kill = [recorded_items(out, rank) for rank in (0, 1)]
    assert logged_epochs(out)  # killed after at least one whole epoch

    resumed = ddp(out, synth_data, *LORA, "--record_train_ids=true")
    # a resume, not a restart: each rank trains on exactly the items its uninterrupted run trained on
    # after the checkpoint's position, and the epochs finished before the kill are not logged again
    for rank in (0, 1):
        assert_resumed_after_the_checkpoint(recorded_items(reference_out, rank), items_at_kill[rank],
                                            recorded_items(out, rank), consumed)
    assert logged_epochs(out) == ["epoch: 1", "epoch: 2", "epoch: 3"]
    assert resumed["test"] == reference["test"] and resumed["valid"] == reference["valid"]
    assert resumed["test_ci95"] == reference["test_ci95"]
    # every epoch reported, also those before the kill (the history is part of the checkpoint)
    assert resumed["valid_history"] == reference["valid_history"] and len(resumed["valid_history"]) == 3


def test_full_fine_tuning_of_musicfm(tmp_path, synth_data):
    """The offline default's method (ft) on the MusicFM architecture; DDP checks every trainable
    tensor gets a gradient (``find_unused_parameters`` stays False)."""
    res = ddp(str(tmp_path / "ft"), synth_data, *TINY, "--method=ft", "--number_of_epochs=2")
    assert res["status"] == "ok" and res["world_size"] == 2 and res["epochs"] == 2
    assert res["config"]["run_options"]["distributed_backend"] == "gloo"


def test_unused_trainable_tensors_are_named_not_a_ddp_index_error(tmp_path, synth_data):
    """FT pooling layer 1 of 2: the layers above get no gradient; the run stops after the first
    step naming them and the remedies (DDP alone would fail at step 2 with parameter indices)."""
    proc = run_recipe("key", str(tmp_path / "unused"), synth_data, *TINY, "--method=ft", "--layer=1",
                      "--number_of_epochs=1", "--distributed_backend=gloo", launcher=torchrun(), timeout=300)
    assert proc.returncode != 0
    assert "got no gradient in the first training step: backbone.model.conformer" in proc.stderr
    assert "--find_unused_parameters" in proc.stderr

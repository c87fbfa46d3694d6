"""torchrun with 2 CPU processes (gloo): disjoint training data, files written once, unsharded
evaluation equal to a single-process evaluation of the same checkpoint."""
import json
import os
import sys

from conftest import run_recipe

TINY = ["--prepare={task: key, n_train: 16, n_valid: 6, n_test: 6, seed: 9, sample_rate: 24000, duration: 2.0}",
        "--backbone=tiny_musicfm", "--method={name: lora, options: {rank: 2}}", "--number_of_epochs=1",
        "--batch_size=4", "--crop_seconds=1.5", "--eval_window_seconds=1.5", "--bootstrap_resamples=100",
        "--record_train_ids=true"]


def test_ddp_two_processes_gloo(tmp_path, synth_data):
    out = str(tmp_path / "ddp")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517"]
    proc = run_recipe("key", out, synth_data, *TINY, "--distributed_backend=gloo", launcher=launcher, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["world_size"] == 2 and res["status"] == "ok"
    # each rank saw its own half of the training set, together all of it, exactly once
    ids = {}
    for rank in (0, 1):
        with open(os.path.join(out, f"train_ids_rank{rank}.txt")) as f:
            ids[rank] = [line.split()[1] for line in f if line.strip()]
    assert len(ids[0]) == len(ids[1]) == 8
    assert not set(ids[0]) & set(ids[1]) and len(set(ids[0]) | set(ids[1])) == 16
    # written once: one checkpoint folder, one results file, no rank-suffixed duplicates
    assert len([d for d in os.listdir(os.path.join(out, "save")) if d.startswith("CKPT")]) == 1
    assert sorted(f for f in os.listdir(out) if f.startswith("results")) == ["results.json"]
    with open(os.path.join(out, "train_log.txt")) as f:
        assert sum(line.startswith("epoch: 1") for line in f) == 1
    # valid/test metrics cover the whole sets exactly once
    assert res["n_items"] == {"valid": 6, "test": 6}
    # the same checkpoint evaluated by a single process gives the same metrics
    single = run_recipe("key", out, synth_data, *TINY, "--test_only", "--results_file=results_single.json",
                        timeout=120)
    assert single.returncode == 0
    res1 = json.load(open(os.path.join(out, "results_single.json")))
    assert res1["world_size"] == 1
    for split in ("valid", "test"):
        for name, value in res[split].items():
            assert abs(value - res1[split][name]) < 1e-5, (split, name, value, res1[split][name])

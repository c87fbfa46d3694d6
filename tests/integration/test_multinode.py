"""Two nodes simulated on one host: two torchrun launchers (``--nnodes=2 --nproc_per_node=1
--node_rank=0/1``, gloo, one shared output folder) of the SynthMusic key recipe.

The toolkit's guarantee (docs/multinode.md): ``batch_size`` is per process, and a run depends on the
world size, not on how its processes are spread over nodes — 2 nodes x 1 process give the results of
1 node x 2 processes exactly (same global ranks, same data shards, same seeds). Checked here, with
a kill -9 of both nodes in the second epoch resumed by the same two commands, and files written once.
One scenario for speed: the killed and resumed two-node run equals an uninterrupted one-node run.
"""
import json
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import run_recipe
from launch import TINY, children, ddp, free_port, kill_9, logged_epochs, wait_until

RUN = [*TINY, "--method=lora", "--petl={options: {rank: 2}}", "--number_of_epochs=2", "--ckpt_interval_steps=1",
       "--augmentation={pitch_shift: {prob: 0.5, semitones: [-2, -1, 1, 2]}}", "--record_train_ids=true"]
#: what must not depend on the placement of the processes
SAME = ("test", "valid", "test_ci95", "n_items", "n_train", "world_size", "best_epoch", "epochs")


def _two_nodes(out, data, *args, timeout=240):
    """Both launchers at once (as on two machines); their CompletedProcesses, node 0 first."""
    port = free_port()
    launchers = [[sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
                  f"--node_rank={node}", "--master_addr=127.0.0.1", f"--master_port={port}"] for node in (0, 1)]
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(run_recipe, "key", out, data, *args, "--distributed_backend=gloo", launcher=launcher,
                            timeout=timeout) for launcher in launchers]
        return [job.result() for job in jobs]


def _results(out):
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def resumed_two_nodes(tmp_path_factory, synth_data):
    """Two nodes killed with kill -9 (each its launcher and its rank) in epoch 2, then started again with
    the same two commands; the output folder and its results."""
    out = str(tmp_path_factory.mktemp("multinode") / "two_nodes")
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(_two_nodes, out, synth_data, *RUN)
        wait_until(lambda: "epoch: 1" in logged_epochs(out), lambda: not job.done(), 180, "the first epoch did not end")
        launchers = [pid for pid in children(os.getpid()) if out in open(f"/proc/{pid}/cmdline").read()]
        assert len(launchers) == 2, launchers
        kill_9([rank for launcher in launchers for rank in children(launcher)] + launchers)
        assert [p.returncode for p in job.result()] == [-signal.SIGKILL] * 2
    assert not os.path.exists(os.path.join(out, "results.json"))
    procs = _two_nodes(out, synth_data, *RUN)
    assert [p.returncode for p in procs] == [0, 0], procs[1].stderr[-3000:]
    return out, _results(out)


def test_two_nodes_killed_and_resumed_equal_one_node_with_the_same_processes(resumed_two_nodes, synth_data,
                                                                             tmp_path):
    out, two_nodes = resumed_two_nodes
    assert "Loading a checkpoint from" in open(os.path.join(out, "log.txt"), encoding="utf-8").read()
    assert two_nodes["status"] == "ok" and two_nodes["world_size"] == 2 and two_nodes["epochs"] == 2
    one_node = ddp(str(tmp_path / "one_node"), synth_data, *RUN)  # --nproc_per_node=2, uninterrupted
    assert {k: two_nodes[k] for k in SAME} == {k: one_node[k] for k in SAME}
    assert [h["loss"] for h in two_nodes["valid_history"]] == [h["loss"] for h in one_node["valid_history"]]


def test_files_are_written_once_in_the_shared_folder(resumed_two_nodes):
    """One results file, complete checkpoints only; per-rank files named by the GLOBAL rank (both
    nodes' processes have local rank 0)."""
    out, _ = resumed_two_nodes
    assert sorted(f for f in os.listdir(out) if f.startswith("results")) == ["results.json"]
    assert sorted(f for f in os.listdir(out) if f.startswith("train_ids")) == ["train_ids_rank0.txt",
                                                                               "train_ids_rank1.txt"]
    save = os.path.join(out, "save")
    assert 1 <= len([d for d in os.listdir(save) if d.startswith("CKPT")]) <= 2
    assert not [d for d in os.listdir(save) if d.startswith(".partial")]

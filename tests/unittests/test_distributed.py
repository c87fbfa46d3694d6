"""What differs between DDP processes: the device of a local rank, preparation once by rank 0 (its
error on every rank), files a node cannot see (one error on every rank, not a hang)."""
import json
import os

import pytest
import torch

from petl_core.distributed import device_for_rank, on_main_then_broadcast
from petl_core.errors import ConfigError, DataError
from petl_core.recipe import check_visible


@pytest.mark.parametrize("device, environ, expected", [
    ("cuda", {"LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "4", "RANK": "7"}, "cuda:3"),  # the LOCAL rank, not RANK
    ("cuda", {}, "cuda"),  # no torchrun: as given
    ("cpu", {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}, "cpu"),
    ("cuda:1", {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}, "cuda:1"),  # its own GPU, named
    ("cuda:0", {"LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}, "cuda:0"),  # one process per node: any GPU
    (None, {"LOCAL_RANK": "1"}, None),  # inferred by SpeechBrain (cuda:LOCAL_RANK)
])
def test_device_of_a_torchrun_process(device, environ, expected):
    assert device_for_rank(device, environ) == expected


def test_one_gpu_shared_by_the_processes_of_a_node_is_refused():
    with pytest.raises(ConfigError, match="--device=cuda:0: under torchrun each of the 2 processes of a node needs "
                                          "its own GPU .* give --device=cuda"):
        device_for_rank("cuda:0", {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})


def test_one_process_preparation_and_visibility(tmp_path):
    assert on_main_then_broadcast(lambda x: x + 1, 1) == 2
    with pytest.raises(DataError, match="not there"):
        on_main_then_broadcast(lambda: (_ for _ in ()).throw(DataError("not there")))
    present = tmp_path / "train.csv"
    present.write_text("ID\n")
    check_visible([str(present)])
    with pytest.raises(DataError, match=f"rank 0: {tmp_path / 'gone.csv'}"):
        check_visible([str(present), str(tmp_path / "gone.csv")])


def _rank(rank, folder, port, out):
    """One gloo rank of two 'nodes': rank 0 prepares (and fails once), rank 1 cannot see the shared folder."""
    import datetime

    import petl_core.recipe as recipe

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK="0")
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                                         timeout=datetime.timedelta(seconds=30))
    seen = {}
    try:  # preparation raising on rank 0: the error on both ranks (rank 1 must not wait forever)
        on_main_then_broadcast(lambda: (_ for _ in ()).throw(DataError("download failed")))
    except DataError as exc:
        seen["prepare"] = str(exc)

    def prepare():
        path = os.path.join(folder, "train.csv")
        with open(path, "w") as f:
            f.write("ID\n")
        return path

    path = on_main_then_broadcast(prepare)
    if rank == 1:  # this node does not mount the shared folder
        real = os.path.isfile
        recipe.os.path.isfile = lambda p: False if p.startswith(folder) else real(p)
    try:
        check_visible([path])
    except DataError as exc:
        seen["visible"] = str(exc)
    with open(f"{out}.{rank}", "w") as f:
        json.dump(seen, f)
    torch.distributed.destroy_process_group()


def test_two_nodes_one_without_the_shared_folder(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "result")
    mp.start_processes(_rank, args=(str(tmp_path), port, out), nprocs=2, start_method="spawn", join=True)
    for rank in (0, 1):
        seen = json.load(open(f"{out}.{rank}"))
        assert seen["prepare"] == "download failed"
        assert f"(rank 1: {tmp_path / 'train.csv'})" in seen["visible"]  # rank 0 sees it
        assert "storage that every node shares" in seen["visible"]

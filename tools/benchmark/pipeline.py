"""The input pipeline alone (``methods --pipeline_workers``): items/s of ``--seconds`` s random crops
(``petl_core.data.make_dataset``: decode, resample to the backbone's rate, batch) from long 44.1 kHz
stereo FLAC and WAV files, by DataLoader ``num_workers``, printed next to each method's training
items/s, so one sees which of the two bounds an epoch.

Example:
    python -m tools.benchmark methods --backbone mert --methods ft --quick --pipeline_workers 0,2 --out /tmp/b
"""
from __future__ import annotations

import logging
import os
import tempfile
import time

from petl_core.cli_args import add_option, int_range
from tools.benchmark.common import comma_separated

logger = logging.getLogger("benchmark")

#: the source files: rate, channels, count, length (s); fewer, shorter with --config tiny
SOURCE = dict(sample_rate=44100, channels=2, files=6, seconds=60.0)
TINY_SOURCE = dict(SOURCE, files=2, seconds=8.0)


def add_arguments(p) -> None:
    add_option(p, "--pipeline_workers", old="--pipeline-workers", type=comma_separated(int_range(0)), default="",
               help="comma-separated DataLoader num_workers: input pipeline")
    add_option(p, "--pipeline_items", old="--pipeline-items", type=int_range(1), default=48,
               help="crops timed per pipeline setting")


def _write_source_files(folder: str, fmt: str, src: dict) -> str:
    """``src``-sized noise files of format ``fmt`` and their manifest; returns its path."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    lines = ["ID,wav,duration,label"]
    for i in range(src["files"]):
        path = os.path.join(folder, f"track{i}.{fmt}")
        data = (0.1 * rng.standard_normal((int(src["seconds"] * src["sample_rate"]), src["channels"])))
        sf.write(path, data.astype("float32"), src["sample_rate"], subtype="PCM_16")
        lines.append(f"{fmt}{i},{path},{src['seconds']},C major")
    manifest = os.path.join(folder, f"{fmt}.csv")
    with open(manifest, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return manifest


def measure(args, sample_rate: int) -> dict:
    """Items/s of random ``--seconds`` crops (decode + resample + batch) by ``num_workers``."""
    from speechbrain.dataio.dataloader import make_dataloader

    from petl_core.data import make_dataset
    from petl_core.tasks import KeyTask

    rows, src = [], TINY_SOURCE if args.config == "tiny" else SOURCE
    with tempfile.TemporaryDirectory(dir=args.out) as folder:
        for fmt in ("flac", "wav"):
            manifest = _write_source_files(folder, fmt, src)
            for workers in args.pipeline_workers:
                dataset = make_dataset(manifest, KeyTask(), sample_rate, train=True, crop_seconds=args.seconds)
                loader = make_dataloader(dataset, batch_size=args.batch, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
                items, start = 0, None
                while items < args.pipeline_items:
                    for batch in loader:
                        if start is None:  # the first batch pays for starting the workers
                            start = time.perf_counter()
                            continue
                        items += len(batch.id)
                        if items >= args.pipeline_items:
                            break
                rows.append({"format": fmt, "num_workers": workers, "items": items,
                             "items_per_s": items / (time.perf_counter() - start)})
                logger.info("input pipeline %s, %d workers: %.1f items/s", fmt, workers, rows[-1]["items_per_s"])
    return {"crop_seconds": args.seconds, "target_rate": sample_rate, "source": src, "results": rows}


def print_pipeline(pipeline: dict | None, results: dict) -> None:
    if not pipeline:
        return
    src = pipeline["source"]
    print(f"input pipeline ({pipeline['crop_seconds']} s crops from {src['seconds']:.0f} s "
          f"{src['sample_rate']} Hz files -> {pipeline['target_rate']} Hz): " + ", ".join(
              f"{r['format']} {r['num_workers']} workers {r['items_per_s']:.1f}/s" for r in pipeline["results"]))
    print("model training step: " + ", ".join(f"{n} {r['train_items_per_s']:.3g} items/s"
                                             for n, r in results.items() if r.get("train_items_per_s")))

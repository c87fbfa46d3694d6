#!/usr/bin/env python3
"""t-SNE of a trained run's pooled embeddings (seed 002, Fig. 2): a PNG coloured by label + the points.

Loads the run as ``tools/predict.py`` does (best-validation checkpoint unless ``--checkpoint``),
computes each clip's pooled embedding (``AudioClassifier.embed``: the head's input; averaged over
the evaluation windows; a progress bar on stderr), projects them to 2-D with scikit-learn's t-SNE
and writes the figure and ``<out>.csv`` next to it (``ID,wav,label,colour,x,y``, one row per item).

    python tools/tsne.py --run results/ESC50/classification/1234 --split test --out esc50_tsne.png
    python tools/tsne.py --run results/SynthMusic/key/1234 --manifest my_clips.csv --out figures/

``--out``: an image file (``.png``, ``.pdf``, ``.svg``...), or a folder (an existing one, a path
ending in ``/`` or without a suffix) that gets ``tsne_<split>.png``; default: the run folder. An
output that would replace an input (the manifest, an audio file, the checkpoint) is refused.

Colours: classification/key: the label; tagging: the first tag of the item (``(none)`` when it has
none); tempo: the BPM on a continuous colour map. Classes get distinct colours up to 40 (tab10,
then 30 more from tab20/tab20b, ordered so that the first ones differ most) and a marker per block
of 10 classes (``o s ^ D v P X *``), so no two classes share a colour and a marker up to 80. The
split's manifest is the run's own (``results.json`` ``config.manifests``, else
``<run>/manifests/<split>.csv``).

Exit status: 0; 1 with a one-line message for unreadable audio, an unusable run/manifest or an
output that would overwrite an input; 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import sys

import numpy as np

from lobes.audio import AudioError
from petl_core.cli_args import add_option, device, float_range, int_range, progress
from petl_core.entry import fail
from petl_core.inference import RunError, check_not_input, clip_embedding, load_clip, load_run, run_path
from petl_core.manifest import read_manifest
from petl_core.tasks import split_tags

# tab10, then tab20's light shades and tab20b, each next colour the farthest from those before it
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#9edae5", "#dbdb8d", "#393b79", "#d6616b", "#f7b6d2", "#98df8a", "#c49c94", "#e7ba52",
           "#9c9ede", "#ff9896", "#8ca252", "#637939", "#5254a3", "#c7c7c7", "#a55194", "#7b4173", "#b5cf6b",
           "#6b6ecf", "#ffbb78", "#bd9e39", "#ad494a", "#de9ed6", "#8c6d31", "#843c39", "#c5b0d5", "#aec7e8",
           "#e7969c", "#ce6dbd", "#e7cb94", "#cedb9c"]
MARKERS = "os^DvPX*"  # one per block of 10 classes
IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".tif", ".tiff", ".webp")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python tools/tsne.py --run results/SynthMusic/key/1234 "
                                            "--split test --out key_tsne.png",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a training run's output folder")
    parser.add_argument("--checkpoint", default=None, help="a CKPT+... folder or model.ckpt (default: best valid)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--split", default="test", choices=["train", "valid", "test"],
                        help="the run's manifest to embed (default: test)")
    source.add_argument("--manifest", default=None, help="any manifest CSV (ID,wav,duration,label) instead")
    parser.add_argument("--out", default=None,
                        help="image file, or a folder for tsne_<split>.png (default: the run folder); the CSV goes "
                             "next to the image")
    parser.add_argument("--perplexity", type=float_range(0, low_open=True), default=30.0,
                        help="> 0; capped at (n-1)/3 for small sets (default: %(default)s)")
    parser.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0, help="t-SNE seed, 0 to 2**32-1")
    add_option(parser, "--max_items", old="--max-items", type=int_range(0), default=0,
               help="embed at most this many items (0 = all)")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    return parser.parse_args(argv)


def split_manifest(folder: str, config: dict, split: str) -> str:
    listed = run_path(folder, config, (config.get("manifests") or {}).get(split))
    local = os.path.join(folder, "manifests", f"{split}.csv")
    for path in (listed, local, run_path(folder, config, config.get(f"{split}_csv"))):
        if path and os.path.isfile(path):
            return path
    raise RunError(f"{folder}: no {split} manifest found (looked for {listed or local}); give --manifest")


def output_paths(out: str | None, default_folder: str, name: str) -> tuple[str, str]:
    """``(image, csv)`` for ``--out`` (see the module docstring); ``ValueError`` for a file that is not
    an image."""
    if out is None or os.path.isdir(out) or out.endswith(("/", os.sep)) or not os.path.splitext(out)[1]:
        image = os.path.join(out or default_folder, f"tsne_{name}.png")
    elif os.path.splitext(out)[1].lower() in IMAGE_SUFFIXES:
        image = out
    else:
        raise ValueError(f"--out {out}: not an image file ({', '.join(IMAGE_SUFFIXES)}) nor a folder; the points "
                         "CSV is written next to the image")
    return os.path.abspath(image), os.path.splitext(os.path.abspath(image))[0] + ".csv"


def class_style(i: int) -> tuple[str, str]:
    """``(colour, marker)`` of the ``i``-th class: distinct colours up to 40, pairs distinct up to 80."""
    return PALETTE[i % len(PALETTE)], MARKERS[(i // 10) % len(MARKERS)]


def colour_key(task_name: str, label: str):
    if task_name == "tempo":
        return float(label)
    if task_name == "tagging":
        tags = split_tags(label)
        return tags[0] if tags else "(none)"
    return label


def tsne_points(embeddings: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of ``[N, D]`` embeddings (N >= 2; perplexity capped for small N)."""
    from sklearn.manifold import TSNE

    n = len(embeddings)
    if n < 2:
        raise ValueError(f"t-SNE needs at least 2 items, got {n}")
    perplexity = float(max(1.0, min(perplexity, (n - 1) / 3.0)))
    perplexity = min(perplexity, n - 1 - 1e-3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        embeddings.astype(np.float64))


def plot(points: np.ndarray, colours: list, task_name: str, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    if task_name == "tempo":
        sc = ax.scatter(points[:, 0], points[:, 1], c=np.asarray(colours, dtype=float), cmap="viridis", s=14)
        fig.colorbar(sc, ax=ax, label="BPM")
    else:
        labels = sorted(set(colours))
        for i, label in enumerate(labels):
            sel = np.array([c == label for c in colours])
            colour, marker = class_style(i)
            ax.scatter(points[sel, 0], points[sel, 1], s=14, color=colour, marker=marker, label=label)
        if len(labels) <= 80:
            ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
                      ncol=1 + (len(labels) - 1) // 30)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    folder = os.path.abspath(args.run)
    name = "manifest" if args.manifest else args.split
    try:
        png, csv_path = output_paths(args.out, folder, name)
    except ValueError as exc:
        return fail(exc, 2)
    try:
        model, task, hparams = load_run(folder, args.checkpoint, args.device)
        manifest = args.manifest or split_manifest(folder, hparams, args.split)
        if not os.path.isfile(manifest):
            raise RunError(f"{manifest}: manifest not found")
        rows = read_manifest(manifest)
        if args.max_items > 0:
            rows = rows[:args.max_items]
        check_not_input((png, csv_path), [manifest, hparams["checkpoint"]] + [r["wav"] for r in rows])
        embeddings = np.stack([clip_embedding(model, load_clip(r["wav"], model, hparams), hparams).cpu().numpy()
                               for r in progress(rows, desc="embedding", unit="clip")]) \
            if rows else np.zeros((0, 1))
        points = tsne_points(embeddings, args.perplexity, args.seed)
        colours = [colour_key(task.name, r.get("label") or "") for r in rows]
    except (AudioError, RunError, ValueError, KeyError) as exc:
        return fail(exc, first_line=True)
    os.makedirs(os.path.dirname(png), exist_ok=True)
    title = (f"{os.path.basename(folder)}: {hparams['backbone'].get('name')} + {hparams['method'].get('name')}, "
             f"{task.name}, {name} ({len(rows)} items)")
    plot(points, colours, task.name, png, title)
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["ID", "wav", "label", "colour", "x", "y"])
        for r, c, (x, y) in zip(rows, colours, points):
            writer.writerow([r["ID"], r["wav"], r.get("label", ""), c, f"{x:.6f}", f"{y:.6f}"])
    print(f"wrote {png} and {csv_path} ({len(rows)} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""t-SNE of a trained run's pooled embeddings (seed 002, Fig. 2): a PNG coloured by label + the points.

Loads the run as ``tools/predict.py`` does (best-validation checkpoint unless ``--checkpoint``),
computes each clip's pooled embedding (``AudioClassifier.embed``: the head's input; averaged over
the evaluation windows), projects them to 2-D with scikit-learn's t-SNE and writes the figure and
``<out>.csv`` next to it (``ID,wav,label,colour,x,y``, one row per item).

    python tools/tsne.py --run results/ESC50/classification/1234 --split test --out esc50_tsne.png
    python tools/tsne.py --run results/SynthMusic/key/1234 --manifest my_clips.csv

Colours: classification/key: the label; tagging: the first tag of the item (``(none)`` when it has
none); tempo: the BPM on a continuous colour map. The split's manifest is the run's own
(``results.json`` ``config.manifests``, else ``<run>/manifests/<split>.csv``).

Exit status: 0; 1 with a one-line message for unreadable audio or an unusable run/manifest.
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import sys

import numpy as np

from lobes.audio import AudioError
from petl_core.inference import RunError, clip_embedding, load_clip, load_run
from petl_core.manifest import read_manifest
from petl_core.tasks import split_tags


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
    parser.add_argument("--out", default=None, help="PNG path (default: <run>/tsne_<split>.png); the CSV goes next to it")
    parser.add_argument("--perplexity", type=float, default=30.0, help="capped at (n-1)/3 for small sets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-items", type=int, default=0, help="embed at most this many items (0 = all)")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def split_manifest(folder: str, config: dict, split: str) -> str:
    listed = (config.get("manifests") or {}).get(split)
    local = os.path.join(folder, "manifests", f"{split}.csv")
    for path in (listed, local, config.get(f"{split}_csv")):
        if path and os.path.isfile(path):
            return path
    raise RunError(f"{folder}: no {split} manifest found (looked for {listed or local}); give --manifest")


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
        cmap = plt.get_cmap("tab20" if len(labels) > 10 else "tab10")
        for i, label in enumerate(labels):
            sel = np.array([c == label for c in colours])
            ax.scatter(points[sel, 0], points[sel, 1], s=14, color=cmap(i % cmap.N),
                       marker="o" if i < cmap.N else "^", label=label)
        if len(labels) <= 30:
            ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    folder = os.path.abspath(args.run)
    try:
        model, task, hparams = load_run(folder, args.checkpoint, args.device)
        manifest = args.manifest or split_manifest(folder, hparams, args.split)
        if not os.path.isfile(manifest):
            raise RunError(f"{manifest}: manifest not found")
        rows = read_manifest(manifest)
        if args.max_items > 0:
            rows = rows[:args.max_items]
        embeddings = np.stack([clip_embedding(model, load_clip(r["wav"], model, hparams), hparams).cpu().numpy()
                               for r in rows]) if rows else np.zeros((0, 1))
        points = tsne_points(embeddings, args.perplexity, args.seed)
        colours = [colour_key(task.name, r.get("label") or "") for r in rows]
    except (AudioError, RunError, ValueError, KeyError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    name = "manifest" if args.manifest else args.split
    png = args.out or os.path.join(folder, f"tsne_{name}.png")
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    title = (f"{os.path.basename(folder)}: {hparams['backbone'].get('name')} + {hparams['method'].get('name')}, "
             f"{task.name}, {name} ({len(rows)} items)")
    plot(points, colours, task.name, png, title)
    csv_path = os.path.splitext(png)[0] + ".csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["ID", "wav", "label", "colour", "x", "y"])
        for r, c, (x, y) in zip(rows, colours, points):
            writer.writerow([r["ID"], r["wav"], r.get("label", ""), c, f"{x:.6f}", f"{y:.6f}"])
    print(f"wrote {png} and {csv_path} ({len(rows)} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

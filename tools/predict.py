#!/usr/bin/env python3
"""Predict with a trained run: labels / tags / key / tempo for audio files.

Rebuilds the run's model from its resolved configuration (backbone + PETL method + head;
pretrained weights as configured), loads the best-validation checkpoint (the one the run's test
evaluation used; ``--checkpoint`` picks another) and predicts each file as evaluation does: the
whole clip (capped at the run's ``max_eval_seconds``; ``--max_seconds`` sets another cap,
``--whole_file`` none), logits averaged over ``eval_window_seconds`` windows. A run's relative
``save_folder`` is found from the run folder, not from the current folder.

    python tools/predict.py --run results/SynthMusic/key/1234 song1.wav song2.flac
    python tools/predict.py --run results/GTZAN/genre/1234 --top_k 3 --format csv --out preds.csv *.wav

Output per file (JSON: a list of objects; CSV: one row per file):

* classification: ``label``, ``score`` (softmax probability), ``top_k`` [{label, score}];
* tagging: ``tags`` (probability >= ``--threshold``, default 0.5), ``scores`` {tag: probability};
* key: ``key`` (e.g. ``F# minor``), ``confidence``, ``top_k``;
* tempo: ``bpm``;
* beat / chord (frame-level runs): the track's predicted annotation is written to
  ``--annotations_dir`` as ``<audio stem>.beats`` (``time<TAB>position in bar``, madmom's joint DBN
  beat/downbeat tracker: the same events as the listed ``beats``/``downbeats`` and as the metrics) or
  ``<audio stem>.lab`` (chord segments, Harte labels); the output lists
  ``beats`` + ``downbeats`` or ``segments`` and the written ``annotation`` file. The whole file is
  evaluated in the run's overlapping windows, stitched (:func:`lobes.frame_head.predict_long`).

Exit status: 0 on success; 1 with a one-line message naming the file for unreadable audio, or the
path for an unusable run/checkpoint, an ``--out`` that is one of the inputs or a folder, or an
``--annotations_dir`` that is a file (nothing is written then); 2 on bad arguments (e.g. a
``--threshold`` outside [0, 1], a ``--top_k`` below 0, a ``--max_seconds`` of 0 or below; refused
before anything is built). The old spellings ``--top-k``, ``--max-seconds``, ``--whole-file`` and
``--annotations-dir`` still work, with a deprecation line.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
import tempfile

from lobes.audio import AudioError, audio_info
from petl_core.cli_args import add_option, device, float_range, int_range
from petl_core.entry import fail
from petl_core.inference import RunError, check_not_input, clip_logits, decode, load_clip, load_run


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python tools/predict.py --run results/SynthMusic/key/1234 "
                                            "a.wav b.wav",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a training run's output folder (holds results.json, save/)")
    parser.add_argument("--checkpoint", default=None,
                        help="a CKPT+... folder or its model.ckpt (default: the best-validation checkpoint)")
    parser.add_argument("--format", choices=["json", "csv"], default="json")
    parser.add_argument("--out", default=None, help="output file (default: stdout)")
    add_option(parser, "--top_k", old="--top-k", type=int_range(0), default=5,
               help="classes listed per file (classification, key; 0 = all; default %(default)s)")
    parser.add_argument("--threshold", type=float_range(0, 1), default=0.5,
                        help="tagging: tags with probability >= this (0 to 1; default %(default)s)")
    length = parser.add_mutually_exclusive_group()
    add_option(length, "--max_seconds", old="--max-seconds", type=float_range(0, low_open=True), default=None,
               metavar="SECONDS", help="read at most this many seconds per file (> 0; default: the run's "
                                       "max_eval_seconds; --whole_file: no cap)")
    add_option(length, "--whole_file", old="--whole-file", action="store_true", help="read every file whole (no cap)")
    add_option(parser, "--annotations_dir", old="--annotations-dir", default="predictions",
               help="beat / chord runs: folder for the predicted .beats / .lab files (default: %(default)s)")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("audio", nargs="+", help="audio files (any format soundfile reads, any rate/channels)")
    return parser.parse_args(argv)


def check_out(out: str | None) -> None:
    """``RunError`` before anything is built when ``--out`` is a folder."""
    if out and os.path.isdir(out):
        raise RunError(f"--out {out}: is a folder; give a file path, e.g. {os.path.join(out, 'predictions.json')}")


def write_text_atomic(text: str, path: str) -> None:
    """Write ``path`` through a temporary file in its folder (removed if the write fails)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def predict(model, task, hparams: dict, paths: list[str], top_k: int = 5, threshold: float = 0.5,
            max_seconds: float | None = -1.0) -> list[dict]:
    """One dict per file: ``{"file": path, **decode(...)}``; raises ``AudioError`` naming a bad file."""
    out = []
    for path in paths:
        wav = load_clip(path, model, hparams, max_seconds)
        out.append({"file": path, **decode(task, clip_logits(model, wav, hparams), top_k, threshold)})
    return out


def predict_frames(model, task, hparams: dict, paths: list[str], out_dir: str, max_seconds: float | None = -1.0):
    """Frame-level runs: one dict per file with the events and the ``annotation`` file written.

    ``load_run`` rebuilt the run's backbone and head with their trained tensors; they are applied
    per frame as in training (``FrameModel`` at the run's ``frame_rate``)."""
    from lobes.frame_head import FrameModel, predict_long

    frame = FrameModel(model.backbone, model.head, layer=model.layer, target_rate=hparams.get("frame_rate")).eval()
    task = task.with_timing(frame.timing)
    window = float(hparams.get("eval_window_seconds") or hparams["crop_seconds"])
    overlap = hparams.get("eval_overlap_seconds")
    overlap = window / 2 if overlap is None else float(overlap)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise RunError(f"--annotations_dir {out_dir}: is a file, not a folder; give a folder")
    outs = [os.path.join(out_dir, os.path.splitext(os.path.basename(p))[0] + task.extension) for p in paths]
    check_not_input(outs, paths)
    if len(set(outs)) != len(outs):
        raise RunError(f"two inputs share a file name; their {task.extension} files would collide in {out_dir}")
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for path, out in zip(paths, outs):
        wav = load_clip(path, model, hparams, max_seconds)
        logits = predict_long(frame, wav, window, overlap)
        prediction = task.write_prediction(logits, wav.shape[-1] / model.backbone.sample_rate, out)
        rows.append({"file": path, "annotation": prediction.pop("file"), **prediction})
    return rows


def to_csv(task_name: str, rows: list[dict]) -> str:
    """CSV text: ``file,prediction,score,details`` (details: ``name:score`` joined by ``;``)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["file", "prediction", "score", "details"])
    for r in rows:
        if task_name == "tempo":
            writer.writerow([r["file"], r["bpm"], "", ""])
        elif task_name in ("beat", "chord"):
            counts = {k: len(r[k]) for k in ("beats", "downbeats", "segments") if r.get(k) is not None}
            writer.writerow([r["file"], r["annotation"], "", ";".join(f"{k}:{n}" for k, n in counts.items())])
        elif task_name == "tagging":
            writer.writerow([r["file"], ";".join(r["tags"]), "",
                             ";".join(f"{t}:{s:.6f}" for t, s in r["scores"].items())])
        else:
            label, score = (r["key"], r["confidence"]) if task_name == "key" else (r["label"], r["score"])
            writer.writerow([r["file"], label, f"{score:.6f}",
                             ";".join(f"{t['label']}:{t['score']:.6f}" for t in r["top_k"])])
    return buf.getvalue()


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        check_out(args.out)
        if args.out:
            check_not_input([args.out], args.audio + ([args.checkpoint] if args.checkpoint else []))
        for path in args.audio:  # cheap header check of every file before building the model
            audio_info(path)
        model, task, hparams = load_run(args.run, args.checkpoint, args.device)
        cap = 0.0 if args.whole_file else (-1.0 if args.max_seconds is None else args.max_seconds)
        if getattr(task, "frame_level", False):
            rows = predict_frames(model, task, hparams, args.audio, args.annotations_dir, cap)
        else:
            rows = predict(model, task, hparams, args.audio, args.top_k, args.threshold, cap)
    except (AudioError, RunError) as exc:
        return fail(exc, first_line=True)
    text = json.dumps(rows, indent=2) + "\n" if args.format == "json" else to_csv(task.name, rows)
    if args.out:
        write_text_atomic(text, args.out)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Extract frame-level features of audio files with any backbone.

Writes with ``torch.save`` a dict mapping each audio path, exactly as given, to a float tensor
of the whole file, no pooling, taken at transformer layer K with the meaning of the reference
implementations' ``hidden_states[K]`` (K=0: the embeddings entering the first layer; default: the
last layer used):

* ``[frames, hidden]`` for backbones that take any length (MERT, MusicFM, HuBERT, ...): the whole
  file as one clip;
* ``[windows, tokens, hidden]`` for fixed-length backbones (AST: ``max_length`` fbank frames,
  10.24 s at the AudioSet checkpoint's 1024): the file is cut into consecutive windows that tile
  its fbank frames (window ``j`` starts at ``j * max_length`` hops), the last one padded as AST
  pads short clips, so nothing of a long file is dropped.

Example:
    python tools/extract_features.py --backbone mert --pretrained m-a-p/MERT-v1-95M \
        --layer 6 --out feats.pt song1.wav song2.flac
    python tools/extract_features.py --backbone ast --config tiny --out f.pt clip.wav   # offline

Exit status: 0 on success; 1 with a one-line message naming the file for unreadable audio
(nothing is written then, and an existing ``--out`` file is left untouched); 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

import torch

from lobes import BACKBONES, build_backbone
from lobes.audio import AudioError, load_audio
from petl_core.cli_args import add_option, device, int_range, progress
from petl_core.entry import fail


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", required=True, choices=sorted(BACKBONES))
    parser.add_argument("--pretrained", help="hub id or local folder (MusicFM: folder with the .pt and stats json)")
    parser.add_argument("--config", default=None, choices=["tiny", "real"],
                        help="without --pretrained: build this config with RANDOM weights (offline use)")
    parser.add_argument("--layer", type=int_range(0), default=None,
                        help="hidden_states index K >= 0 (default: last layer used)")
    add_option(parser, "--num_layers", old="--num-layers", type=int_range(1), default=None,
               help="build only the first N >= 1 layers")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--out", required=True, help="output file (torch.save)")
    parser.add_argument("audio", nargs="+", help="audio files (any format soundfile reads, any rate/channels)")
    args = parser.parse_args(argv)
    if os.path.isdir(args.out) or args.out.endswith(("/", os.sep)):
        parser.error(f"--out {args.out} is a folder: give a file name (e.g. {os.path.join(args.out, 'features.pt')})")
    if args.pretrained and args.config:
        parser.error("--config builds RANDOM weights: give --pretrained or --config, not both")
    return args


@torch.no_grad()
def extract(backbone, paths: list[str], layer: int | None, device: str = "cpu") -> dict[str, torch.Tensor]:
    """``{path: [frames, hidden]}`` at ``hidden_states[layer]`` (default: the last layer kept)."""
    backbone.eval().to(device)
    k = backbone.num_layers if layer is None else layer
    features = {}
    max_samples = getattr(backbone, "max_input_samples", None)
    for path in progress(paths, desc="extracting", unit="file", disable=len(paths) < 2):
        wav = load_audio(path, sample_rate=backbone.sample_rate).to(device)
        if max_samples is None:
            out = backbone(wav.unsqueeze(0))
            features[path] = out.hidden_states[k][0, out.mask[0]].float().cpu()
        else:
            features[path] = torch.stack([
                backbone(piece.unsqueeze(0)).hidden_states[k][0].float().cpu()
                for piece in fixed_length_windows(wav, max_samples, backbone.max_length * 160)
            ])
    return features


def fixed_length_windows(wav: torch.Tensor, size: int, hop: int) -> list[torch.Tensor]:
    """Consecutive windows of at most ``size`` samples every ``hop`` (<= ``size``) samples covering
    all of ``wav``; a window holding nothing but its overlap with the previous one is not made.

    >>> [w.shape[0] for w in fixed_length_windows(torch.zeros(25), size=10, hop=8)]
    [10, 10, 9]
    """
    overlap = size - hop
    return [wav[start: start + size] for start in range(0, wav.shape[0], hop)
            if start == 0 or wav.shape[0] - start > overlap]


def save_atomically(obj, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        backbone = build_backbone(args.backbone, pretrained=args.pretrained,
                                  config=None if args.pretrained else (args.config or "real"),
                                  num_layers=args.num_layers)
        if args.layer is not None and not 0 <= args.layer <= backbone.num_layers:
            raise ValueError(f"--layer must be between 0 and {backbone.num_layers}, got {args.layer}")
        features = extract(backbone, args.audio, args.layer, args.device)
    except (AudioError, ValueError, OSError, KeyError) as exc:
        return fail(exc)
    save_atomically(features, args.out)
    print(f"wrote {len(features)} feature matrices to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

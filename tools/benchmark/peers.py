"""LoRA training step of the toolkit vs transformers + peft, in one process, interleaved.

For each transformers backbone (AST, MERT, HuBERT, wav2vec 2.0, data2vec-audio) at its real
configuration (random weights) the same architecture is trained three ways, with LoRA rank 8 on
q and v (scale 1 = peft's ``lora_alpha`` 8 / ``r`` 8, no dropout) and a classification head:

* ``toolkit``: ``lobes.build_backbone`` + ``petl_modules.apply_petl`` + a Linear head, fed the raw
  waveform tensor (its front end, AST's fbank or the SSL normalisation, is part of the step);
* ``peft``: ``ASTForAudioClassification`` / ``<Model>ForSequenceClassification`` from the same
  config, ``peft.get_peft_model`` (head in ``modules_to_save``), fed by its feature extractor
  (``ASTFeatureExtractor`` / ``Wav2Vec2FeatureExtractor``) inside the step, as a user would;
* ``peft_frozen_fe`` (speech-SSL family): the same plus ``model.freeze_feature_encoder()``, the
  extra call a careful transformers user makes (peft alone leaves transformers forcing gradients
  through the frozen conv front end).

Timing: one training step (extractor + forward + backward + AdamW) of each side in turn, sides in
alternating order from round to round, after a warm-up. Ratios are paired (toolkit ÷ peer within
one round, so the machine's load drift cancels); reported: the median over rounds with a 95 %
bootstrap confidence interval, and a verdict against the target: ``meets`` (whole interval within
it), ``misses`` (whole interval beyond it), ``within noise``. Peak memory of a training step: one
fresh subprocess per side (see :class:`tools.benchmark.common.PeakMemory`).

Example:
    python -m tools.benchmark peers --backbones ast,mert --repeats 15 --threads 1 --out /tmp/peers
    python -m tools.benchmark peers --out /tmp/peers2 --compare /tmp/peers/peers.json
"""
from __future__ import annotations

import copy
import json
import logging
import os
import statistics
import time
import warnings

import torch

from tools.benchmark.common import (
    NUM_CLASSES, BenchmarkError, PeakMemory, TrainStep, add_run_options, build_base, classifier, make_batch,
    paired_ratio, round_robin, verdict,
)
from tools.benchmark.workers import run_workers, worker_result

logger = logging.getLogger("benchmark")

BACKBONES = ["ast", "mert", "hubert", "wav2vec2", "data2vec"]
LORA = {"rank": 8, "targets": ["q", "v"]}
#: toolkit ÷ peer targets (issue 22): time and memory on AST, time on the speech-SSL / MERT family
TARGETS = {"ast": {"time": 1.0, "memory": 1.0}, "mert": {"time": 0.6}, "hubert": {"time": 0.6},
           "wav2vec2": {"time": 0.6}, "data2vec": {"time": 0.6}}


def add_arguments(p) -> None:
    p.add_argument("--backbones", default=",".join(BACKBONES), help=f"comma-separated, of {', '.join(BACKBONES)}")
    add_run_options(p, batch=2, seconds=2.0, repeats=15, warmup=2, layers="AST 12, MERT 6, others 12", min_repeats=2)
    p.add_argument("--compare", default=None, help="an earlier peers.json: print whether every verdict is the same")


def check_arguments(args) -> None:
    args.backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    unknown = [b for b in args.backbones if b not in BACKBONES]
    if unknown or not args.backbones:
        raise BenchmarkError(f"--backbones: unknown {', '.join(unknown) or '(none given)'}; valid: "
                             f"{', '.join(BACKBONES)} (MusicFM has no transformers + peft counterpart)")
    if args.compare and not os.path.isfile(args.compare):
        raise BenchmarkError(f"--compare {args.compare}: no such file (give the peers.json of an earlier run)")


def sides(backbone: str) -> list[str]:
    return ["toolkit", "peft"] if backbone == "ast" else ["toolkit", "peft", "peft_frozen_fe"]


# ---------------------------------------------------------------------------------------- models
class PeerStep(TrainStep):
    """A transformers model's training step; its feature extractor runs inside the step."""

    def __init__(self, model, extractor, wav, labels, device, precision="fp32"):
        super().__init__(model, wav, labels, device, precision)
        self.extractor, self.clips = extractor, [clip.cpu().numpy() for clip in wav]

    def logits(self) -> torch.Tensor:
        inputs = self.extractor(self.clips, sampling_rate=self.extractor.sampling_rate, return_tensors="pt")
        return self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits


def build_peer(ours, side: str):
    """(transformers + peft model, feature extractor) with the architecture of the toolkit backbone ``ours``."""
    import peft
    import transformers as tf

    cfg = copy.deepcopy(ours.model.config)
    cfg.num_labels = NUM_CLASSES
    torch.manual_seed(0)
    if ours.family == "ast":
        model = tf.ASTForAudioClassification(cfg)
        extractor = tf.ASTFeatureExtractor(max_length=cfg.max_length, num_mel_bins=cfg.num_mel_bins,
                                           mean=ours.mean, std=ours.std)
        heads = ["classifier"]
    else:
        cls = {"mert": tf.HubertForSequenceClassification, "hubert": tf.HubertForSequenceClassification,
               "wav2vec2": tf.Wav2Vec2ForSequenceClassification,
               "data2vec": tf.Data2VecAudioForSequenceClassification}[ours.family]
        model = cls(cfg)
        group_norm = getattr(cfg, "feat_extract_norm", "layer") == "group"
        extractor = tf.Wav2Vec2FeatureExtractor(sampling_rate=ours.sample_rate, do_normalize=ours.do_normalize,
                                                return_attention_mask=not group_norm)
        heads = ["projector", "classifier"]
        if side == "peft_frozen_fe":
            model.freeze_feature_encoder()
    lora = peft.LoraConfig(r=LORA["rank"], lora_alpha=LORA["rank"], lora_dropout=0.0,
                           target_modules=["q_proj", "v_proj"], modules_to_save=heads)
    return peft.get_peft_model(model, lora), extractor


def build_step(backbone: str, side: str, args):
    """The training step of ``side`` on ``backbone`` (real configuration, random weights)."""
    from petl_modules import apply_petl

    ours = build_base(backbone, args.config, args.num_layers, args.seconds, args.seed)
    wav, labels = make_batch(args.batch, args.seconds, ours.sample_rate, args.device)
    if side == "toolkit":
        apply_petl(ours, "lora", LORA)
        return TrainStep(classifier(ours).to(args.device), wav, labels, args.device, args.precision)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, extractor = build_peer(ours, side)
    return PeerStep(model.to(args.device), extractor, wav, labels, args.device, args.precision)


def trainable(step: TrainStep) -> int:
    return sum(p.numel() for p in step.params)


# -------------------------------------------------------------------------------------- measure
def memory_worker(args, spec: str) -> dict:
    """Peak memory (MiB) of the second training step of ``BACKBONE:SIDE`` in this fresh process."""
    backbone, side = spec.split(":")
    meter = PeakMemory(args.device)
    baseline = meter.current()
    step = build_step(backbone, side, args)
    step()  # allocates the optimizer state
    meter.start(baseline)
    step()
    return {"peak_mem_mb": meter.peak() / 2**20, "memory_method": meter.method}


def measure_backbone(args, backbone: str) -> dict:
    names = sides(backbone)
    steps = {side: build_step(backbone, side, args) for side in names}
    losses = {side: float(step()) for side, step in steps.items()}
    times = round_robin(steps, args.repeats, args.warmup, args.device, alternate=True, clock=args.clock)
    row = {"sides": {side: {"step_s": statistics.median(times[side]), "trainable_params": trainable(steps[side]),
                            "first_loss": losses[side]} for side in names},
           "raw_step_s": times, "targets": TARGETS[backbone], "ratios": {}}
    for peer in names[1:]:
        time_ratio = paired_ratio(times["toolkit"], times[peer])
        row["ratios"][peer] = {"time": time_ratio, "time_verdict": verdict(time_ratio, TARGETS[backbone]["time"])}
    return row


def add_memory(args, rows: dict) -> None:
    specs = [f"{b}:{side}" for b in rows for side in sides(b)]
    results = run_workers(args, "peers", specs)
    for spec, result in results.items():
        backbone, side = spec.split(":")
        rows[backbone]["sides"][side].update(result)
    for backbone, row in rows.items():
        ours = row["sides"]["toolkit"].get("peak_mem_mb")
        for peer, ratios in row["ratios"].items():
            theirs = row["sides"][peer].get("peak_mem_mb")
            ratios["memory"] = ours / theirs if ours and theirs else None
            target = TARGETS[backbone].get("memory")
            if target is not None and ratios["memory"] is not None:
                ratios["memory_verdict"] = "meets" if ratios["memory"] <= target else "misses"


def run(args) -> dict:
    start = time.perf_counter()
    report = {"what": "toolkit vs transformers + peft, LoRA r=8 on q,v, training step", "config": args.config,
              "device": args.device, "precision": args.precision, "threads": torch.get_num_threads(),
              "batch": args.batch, "seconds": args.seconds, "repeats": args.repeats, "warmup": args.warmup,
              "clock": args.clock, "torch": torch.__version__, "results": {}, "complete": False}
    for backbone in args.backbones:
        logger.info("%s: timing %s", backbone, ", ".join(sides(backbone)))
        report["results"][backbone] = measure_backbone(args, backbone)
        write(args, report)  # what is measured so far survives an interrupted run
    if not args.no_memory:
        add_memory(args, report["results"])
    report.update(complete=True, wall_s=time.perf_counter() - start)
    if args.compare:
        with open(args.compare) as fh:
            report["compare"] = compare(json.load(fh), report)
    return report


def write(args, report: dict) -> str:
    path = os.path.join(args.out, "peers.json")
    with open(path + ".tmp", "w") as fh:
        json.dump(report, fh, indent=2)
    os.replace(path + ".tmp", path)
    return path


def verdicts(report: dict) -> dict[str, str]:
    out = {}
    for backbone, row in report["results"].items():
        for peer, ratios in row["ratios"].items():
            for key in ("time_verdict", "memory_verdict"):
                if key in ratios:
                    out[f"{backbone} vs {peer} {key.split('_')[0]}"] = ratios[key]
    return out


def compare(before: dict, now: dict) -> dict:
    """Verdicts of an earlier report vs this one: ``same`` is True when none changed."""
    a, b = verdicts(before), verdicts(now)
    changed = {k: [a[k], b[k]] for k in a.keys() & b.keys() if a[k] != b[k]}
    return {"same": not changed, "changed": changed, "compared": sorted(a.keys() & b.keys())}


def print_report(report: dict) -> None:
    print(f"\ntoolkit ÷ transformers + peft, LoRA training step (batch {report['batch']} x {report['seconds']} s, "
          f"{report['repeats']} rounds, {report['threads']} thread(s), {report['device']}, {report['precision']}, "
          f"{report['clock']} clock)")
    head = f"{'backbone':<10}{'peer':<16}{'time x':>8}  {'95% CI':<14}{'target':>7}  {'verdict':<14}{'memory x':>9}"
    print(head)
    print("-" * len(head))
    for backbone, row in report["results"].items():
        for peer, r in row["ratios"].items():
            t = r["time"]
            mem = r.get("memory")
            mem_text = "-" if mem is None else f"{mem:.2f}" + (f" ({r['memory_verdict']})" if "memory_verdict" in r
                                                                  else "")
            print(f"{backbone:<10}{peer:<16}{t['median']:>8.2f}  [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]  "
                  f"{row['targets']['time']:>6.1f}  {r['time_verdict']:<14}{mem_text:>9}")
    if "compare" in report:
        c = report["compare"]
        print("verdicts same as the compared run" if c["same"] else f"verdicts CHANGED: {c['changed']}")
    print(f"wall time: {report['wall_s']:.0f} s")


def main(args) -> int:
    if args.worker:
        print(worker_result(memory_worker(args, args.worker)), flush=True)
        return 0
    check_arguments(args)
    os.makedirs(args.out, exist_ok=True)
    report = run(args)
    path = write(args, report)
    print_report(report)
    print(f"wrote {path}")
    return 0

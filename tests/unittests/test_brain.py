"""The training mechanics (PETLBrain) through the clip Brain: optimiser over trainable parameters,
clipping over all groups, frozen BN in eval mode, checkpoints holding only trainable tensors,
non-finite losses, one host synchronisation per step, the task's options in the loss."""
import warnings

import pytest
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.utils.checkpoints import Checkpointer

from lobes import build_backbone
from lobes.heads import AudioClassifier, build_head
from petl_core.checkpointing import TrainableState
from petl_core.clip_brain import ClipBrain
from petl_core.errors import CheckpointMismatchError, ConfigError, NonFiniteLossError
from petl_core.tasks import KeyTask, check_cost_options
from petl_modules import apply_petl

warnings.simplefilter("ignore")


def _model(method="lora", options=None):
    torch.manual_seed(0)
    bb = build_backbone("musicfm", config="tiny")  # has BatchNorm in its conv front end
    apply_petl(bb, method, {"rank": 2} if options is None and method == "lora" else (options or {}))
    return AudioClassifier(bb, build_head("mlp", bb.hidden_size, 24))


class RecordingSGD(torch.optim.SGD):
    """Records the total gradient norm over all groups when stepping (lr 0: weights unchanged)."""

    norms = []

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        RecordingSGD.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return super().step(closure)


def _brain(model, tmp_path=None, **kw):
    ckpt = Checkpointer(str(tmp_path)) if tmp_path is not None else None
    run_opts = {"device": "cpu", "max_grad_norm": kw.pop("max_grad_norm", 1.0), "noprogressbar": True,
                "nonfinite_patience": kw.pop("nonfinite_patience", 3)}
    return ClipBrain(modules={"model": model}, opt_class=kw.pop("opt_class", lambda g: RecordingSGD(g, lr=0.0)),
                     run_opts=run_opts, checkpointer=ckpt, task=kw.pop("task", KeyTask()),
                     compute_cost=torch.nn.functional.cross_entropy, **kw)


def _batch(n=2, seconds=1.0, sr=24000):
    return PaddedBatch([{"id": str(i), "sig": torch.randn(int(sr * seconds)), "label_enc": torch.tensor([i % 24])}
                        for i in range(n)])


def test_optimizer_holds_only_trainable_params():
    model = _model()
    brain = _brain(model)
    brain.init_optimizers()
    in_opt = {id(p) for g in brain.optimizer.param_groups for p in g["params"]}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert in_opt == trainable
    assert len(trainable) < len(list(model.parameters()))


def test_grad_clipping_covers_all_groups():
    model = _model()
    brain = _brain(model, weight_decay_vectors=False, max_grad_norm=1.0)  # 2 groups: matrices / vectors
    brain.init_optimizers()
    assert len(brain.optimizer.param_groups) == 2
    for g in brain.optimizer.param_groups:
        for p in g["params"]:
            p.grad = torch.full_like(p, 10.0)
    RecordingSGD.norms.clear()
    brain.optimizers_step()
    assert RecordingSGD.norms[-1] == pytest.approx(1.0, rel=1e-4)  # the clipped norm over BOTH groups


def test_frozen_batchnorm_stays_eval_after_train():
    model = _model()
    brain = _brain(model)
    brain.modules.train()  # what Brain.fit does every epoch
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(not m.training for m in bns)
    assert model.head.training
    stats = [m.running_mean.clone() for m in bns]
    brain.fit_batch(_batch())
    assert all(torch.equal(s, m.running_mean) for s, m in zip(stats, bns))


def test_checkpoint_holds_only_trainable_tensors(tmp_path):
    model = _model()
    brain = _brain(model, tmp_path)
    brain.init_optimizers()
    brain.checkpointer.save_checkpoint()
    saved = torch.load(next(tmp_path.glob("CKPT*/model.ckpt")), weights_only=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(saved) == trainable
    # round trip: perturb, recover, equal
    original = {k: v.clone() for k, v in saved.items()}
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(1.0)
    brain.checkpointer.recover_if_possible()
    state = TrainableState(model).state_dict()
    assert all(torch.equal(state[k], original[k]) for k in original)


def test_checkpoint_includes_trainable_bn_buffers():
    model = _model("ft", {})
    keys = set(TrainableState(model).keys())
    assert any(k.endswith("running_mean") for k in keys)
    assert keys <= set(model.state_dict())


def test_checkpoint_mismatch_is_an_error():
    state = TrainableState(_model()).state_dict()
    other = TrainableState(_model("bitfit", {}))
    with pytest.raises(CheckpointMismatchError, match="does not match"):
        other.load_state_dict(state)


def test_nonfinite_loss_skips_then_stops():
    model = _model()
    brain = _brain(model, nonfinite_patience=2, opt_class=lambda g: torch.optim.SGD(g, lr=0.1))
    brain.init_optimizers()
    before = {n: p.clone() for n, p in model.named_parameters() if p.requires_grad}
    brain.compute_objectives = lambda preds, batch, stage: preds[0].sum() * float("nan")
    brain.fit_batch(_batch())  # skipped with a warning
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters() if p.requires_grad)
    with pytest.raises(NonFiniteLossError, match="2 non-finite losses in a row"):
        brain.fit_batch(_batch())


def test_eval_window_averaging_covers_each_clip_once():
    """Clips of 1.3, 0.9 and 0.4 s in one padded batch, 0.5 s windows (hop = window, the last one
    ending at the clip's end): 3, 2 and 1 windows, cut here by hand from each clip's own samples; each
    clip's logits are the mean of the model's logits on its own windows, each window run once."""
    import speechbrain as sb
    model = _model().eval()
    brain = _brain(model, eval_window=12000)
    brain.modules.eval()
    brain.on_stage_start(stage=None)
    torch.manual_seed(1)
    clips = [torch.randn(31200), torch.randn(21600), torch.randn(9600)]
    batch = PaddedBatch([{"id": str(i), "sig": c, "label_enc": torch.tensor([i])} for i, c in enumerate(clips)])
    hand_windows = [[clips[0][0:12000], clips[0][12000:24000], clips[0][19200:31200]],
                    [clips[1][0:12000], clips[1][9600:21600]],
                    [clips[2]]]  # shorter than the window: the whole clip, once
    seen = []
    model.backbone.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[0]))
    with torch.no_grad():
        logits, labels = brain.compute_forward(batch, sb.Stage.TEST)
        assert sum(seen) == 3 + 2 + 1  # every window through the model once
        expected = torch.stack([torch.stack([model(w[None], torch.ones(1))[0] for w in ws]).mean(0)
                                for ws in hand_windows])
    assert labels.tolist() == [0, 1, 2]
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_eval_windows_go_through_the_model_in_chunks_with_the_same_logits():
    import speechbrain as sb
    model = _model()
    sizes = []
    model.backbone.register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    batch = _batch(3, seconds=1.3)  # 3 windows of 0.5 s per clip: 9 windows
    out = {}
    for chunk in (2, 100):
        brain = _brain(model, eval_window=12000, eval_chunk_size=chunk)
        brain.modules.eval()
        sizes.clear()
        with torch.no_grad():
            out[chunk] = brain.compute_forward(batch, sb.Stage.TEST)[0]
        assert sum(sizes) == 9 and max(sizes) == min(chunk, 9)
    torch.testing.assert_close(out[2], out[100], atol=1e-5, rtol=1e-5)


def test_eval_chunk_size_read_from_hparams_and_checked():
    model = _model()
    assert _brain(model, hparams={"eval_chunk_size": 3}).eval_chunk_size == 3
    assert _brain(model).eval_chunk_size == 16
    with pytest.raises(ConfigError, match="eval_chunk_size"):
        _brain(model, hparams={"eval_chunk_size": 0})


def test_evaluation_runs_in_the_training_precision_unless_given():
    model = _model()
    run_opts = {"device": "cpu", "noprogressbar": True, "precision": "bf16"}
    brain = ClipBrain(modules={"model": model}, run_opts=run_opts, task=KeyTask())
    with brain.evaluation_ctx:
        assert brain.eval_precision == "bf16" and (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    brain = ClipBrain(modules={"model": model}, run_opts={**run_opts, "eval_precision": "fp32"}, task=KeyTask())
    with brain.evaluation_ctx:
        assert brain.eval_precision == "fp32" and (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_final_evaluations_are_labelled_by_their_set_and_the_loss_is_the_item_mean(tmp_path):
    import speechbrain as sb
    from speechbrain.utils.train_logger import FileTrainLogger
    log = tmp_path / "train_log.txt"
    brain = _brain(_model(), train_logger=FileTrainLogger(str(log)))
    logits, labels = torch.randn(5, 24), torch.arange(5)
    for name in ("valid", "test"):
        brain.eval_name = name
        brain.on_stage_start(sb.Stage.TEST)
        for rows in (slice(0, 4), slice(4, 5)):  # batches of 4 and 1: a batch mean would differ
            brain.compute_objectives((logits[rows], labels[rows]), PaddedBatch(
                [{"id": str(i), "label_enc": labels[i:i + 1]} for i in range(5)][rows]), sb.Stage.TEST)
        brain.on_stage_end(sb.Stage.TEST, stage_loss=123.0)
        expected = float(torch.nn.functional.cross_entropy(logits, labels))
        assert brain.eval_result["metrics"]["loss"] == pytest.approx(expected)
    lines = log.read_text().splitlines()
    assert "valid loss" in lines[0] and "test" not in lines[0]
    assert "test loss" in lines[1]


def test_run_history_is_restored_on_resume_but_not_over_a_running_record(tmp_path):
    from petl_core.checkpointing import AtomicCheckpointer
    model = _model()
    first = ClipBrain(modules={"model": model}, run_opts={"device": "cpu", "noprogressbar": True},
                      checkpointer=AtomicCheckpointer(str(tmp_path)), task=KeyTask())
    first.valid_history[:] = [{"epoch": 1, "loss": 2.0}]
    first.epoch_seconds[:] = [1.5]
    first.checkpointer.save_checkpoint()
    resumed = ClipBrain(modules={"model": model}, run_opts={"device": "cpu", "noprogressbar": True},
                        checkpointer=AtomicCheckpointer(str(tmp_path)), task=KeyTask())
    resumed.checkpointer.recover_if_possible()
    assert resumed.valid_history == [{"epoch": 1, "loss": 2.0}] and resumed.epoch_seconds == [1.5]
    resumed.valid_history.append({"epoch": 2, "loss": 1.0})  # the final evaluation loads an older checkpoint
    resumed.checkpointer.recover_if_possible()
    assert [h["epoch"] for h in resumed.valid_history] == [1, 2]


def test_trainable_tensors_without_gradient_are_named_after_the_first_step(caplog):
    model = _model()
    model.backbone.unused_extra = torch.nn.Linear(2, 2)  # trainable, never in the forward
    brain = _brain(model)
    with caplog.at_level("WARNING", logger="petl_core.brain"):
        brain.fit_batch(_batch())
        brain.fit_batch(_batch())
    warnings_ = [r.getMessage() for r in caplog.records if "got no gradient" in r.getMessage()]
    assert len(warnings_) == 1 and "backbone.unused_extra.weight" in warnings_[0]


def test_label_smoothing_of_the_task_goes_into_the_loss():
    """``task: !new:petl_core.tasks.KeyTask {label_smoothing: 0.9}`` changes the loss (it was dropped)."""
    logits, labels = torch.randn(6, 24, generator=torch.Generator().manual_seed(0)), torch.arange(6)
    model = _model()
    plain = _brain(model).cost(logits, labels)
    smoothed = _brain(model, task=KeyTask(label_smoothing=0.9)).cost(logits, labels)
    torch.testing.assert_close(plain, torch.nn.functional.cross_entropy(logits, labels))
    torch.testing.assert_close(smoothed, torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.9))
    assert abs(float(smoothed) - float(plain)) > 0.1
    with pytest.raises(ConfigError, match="label_smoothing=0.9 goes to compute_cost \\(multi_margin_loss\\)"):
        check_cost_options(KeyTask(label_smoothing=0.9), torch.nn.functional.multi_margin_loss)
    with pytest.raises(ConfigError, match="label_smoothing must be a number in"):
        KeyTask(label_smoothing=2.0)


class _LinearOnAudio(torch.nn.Module):
    """A model without host synchronisations of its own: the Brain's are the only ones."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(64, 24)

    def forward(self, wavs, lens, cache_keys=None):
        return self.head(wavs[:, :64])


def test_one_host_synchronisation_per_training_step(monkeypatch):
    brain = _brain(_LinearOnAudio(), opt_class=lambda g: torch.optim.SGD(g, lr=0.1))
    brain.init_optimizers()
    brain.fit_batch(_batch())  # the first step also checks for unused parameters
    calls = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    for _ in range(3):
        loss = brain.fit_batch(_batch())
    monkeypatch.undo()
    assert calls == ["tolist"] * 3, calls  # the finiteness flag and the loss value, together
    assert loss.device.type == "cpu" and loss.dim() == 0


def test_early_stopping_counter_gets_the_main_metric_then_resumes_stopped(tmp_path):
    """SpeechBrain's EpochCounterWithStopper is told the task's main metric after each validation,
    before the checkpoint is saved: the loop stops where the counter says, and a resumed counter
    stays stopped with its best epoch and score (SpeechBrain's checkpoint keeps only the epoch)."""
    import speechbrain as sb
    from speechbrain.utils.epoch_loop import EpochCounterWithStopper

    from petl_core.checkpointing import AtomicCheckpointer
    from petl_core.tasks import ClassificationTask

    def stopper():
        return EpochCounterWithStopper(10, limit_to_stop=2, limit_warmup=0, direction="max")

    counter = stopper()
    brain = ClipBrain(modules={"model": _LinearOnAudio()}, run_opts={"device": "cpu", "noprogressbar": True},
                      checkpointer=AtomicCheckpointer(str(tmp_path), recoverables={"counter": counter}),
                      task=ClassificationTask(list("abcd")), compute_cost=torch.nn.functional.cross_entropy)
    with pytest.raises(ConfigError, match="direction 'min', but the task's main metric accuracy"):
        brain.fit(EpochCounterWithStopper(10, 2, 0, "min"), [], [])
    brain.watch_epoch_counter(counter)  # what fit() does first
    accuracies = [0.25, 0.5, 0.25, 0.25, 0.5, 0.75]
    labels = torch.arange(4)
    batch = PaddedBatch([{"id": str(i), "label_enc": labels[i:i + 1]} for i in range(4)])
    for epoch in counter:
        right = int(accuracies[epoch - 1] * 4)
        predicted = torch.cat([labels[:right], (labels[right:] + 1) % 4])
        brain.on_stage_start(sb.Stage.VALID, epoch)
        brain.compute_objectives((torch.nn.functional.one_hot(predicted, 4).float(), labels), batch, sb.Stage.VALID)
        brain.on_stage_end(sb.Stage.VALID, 0.0, epoch)
    expected = stopper()
    for epoch in expected:  # SpeechBrain's decision on the same values
        expected.update_metric(accuracies[epoch - 1])
    assert counter.current == expected.current == 4 and [h["accuracy"] for h in brain.valid_history] == accuracies[:4]
    resumed = stopper()
    again = ClipBrain(modules={"model": _LinearOnAudio()}, run_opts={"device": "cpu", "noprogressbar": True},
                      checkpointer=AtomicCheckpointer(str(tmp_path), recoverables={"counter": resumed}),
                      task=ClassificationTask(list("abcd")), compute_cost=torch.nn.functional.cross_entropy)
    again.watch_epoch_counter(resumed)
    again.checkpointer.recover_if_possible()  # what fit() does at its start
    assert resumed.current == 4 and resumed.should_stop and list(resumed) == []
    assert (resumed.best_limit, resumed.best_score) == (2, 0.5)


def test_sync_batchnorm_keeps_the_masked_batchnorm_of_conformer_adapters():
    """DDP on CUDA converts trainable BatchNorm to SyncBatchNorm: the conformer adapter's
    MaskedBatchNorm1d (statistics of valid tokens only) stays, the front end's BatchNorm is
    converted, and the converted layers keep their tensors (the optimiser's and the checkpoint's)."""
    from lobes.backbone import MaskedBatchNorm1d
    from petl_core.brain import sync_batchnorm

    model = _model("conformer_adapter", {"bottleneck": 4, "kernel_size": 5})
    masked = [n for n, m in model.named_modules() if isinstance(m, MaskedBatchNorm1d)]
    plain = {n: m.weight for n, m in model.named_modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(m, MaskedBatchNorm1d)}
    assert masked and plain
    converted = dict(sync_batchnorm(model).named_modules())
    assert all(type(converted[n]) is MaskedBatchNorm1d for n in masked)
    assert all(type(converted[n]) is torch.nn.SyncBatchNorm and converted[n].weight is w for n, w in plain.items())

"""Bad input gets one clear message naming the file or key (docs/robustness.md lists every case)."""
import csv
import errno
import os
import sys

import numpy as np
import pytest
import soundfile as sf

from lobes.audio import AudioError, load_audio
from petl_core.manifest import ManifestError, check_manifest
from petl_core.clip_brain import ClipBrain
from speechbrain.utils.epoch_loop import EpochCounterWithStopper

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests/: recipe_fixtures
from recipe_fixtures import COMMON, MINIMAL, run_in_process  # noqa: E402


def _tone(path, seconds=0.5, sr=16000, data=None, subtype=None):
    data = np.sin(np.linspace(0, 200, int(seconds * sr))).astype(np.float32) if data is None else data
    sf.write(path, data, sr, subtype=subtype)
    return str(path)


# ------------------------------------------------------------------------------------ bad audio
@pytest.mark.parametrize("case, make, message", [
    ("missing", lambda p: None, "file not found"),
    ("empty", lambda p: open(p, "wb").close(), "empty file (0 bytes)"),
    ("corrupt header", lambda p: open(p, "wb").write(b"RIFF\x10\x00\x00\x00WAVEfmt garbage"),
     "not a readable audio file"),
    ("zero-length", lambda p: _tone(p, data=np.zeros(0, dtype=np.float32)), "zero-length audio"),
    ("NaN samples", lambda p: _tone(p, data=np.array([0.1, np.nan, 0.2] * 100, dtype=np.float32), subtype="FLOAT"),
     "NaN or inf"),
    ("unsupported format", lambda p: open(p, "w").write("these are not samples\n" * 50), "not a readable audio file"),
])
def test_bad_audio_is_one_line_naming_the_file(tmp_path, case, make, message):
    path = str(tmp_path / f"{case.replace(' ', '_')}.wav")
    make(path)
    with pytest.raises(AudioError) as info:
        load_audio(path)
    text = str(info.value)
    assert text.startswith(path) and message in text and "\n" not in text


def test_handled_audio_multichannel_any_rate_and_windows(tmp_path):
    noise = np.random.randn(88200, 2).astype(np.float32) * 0.1
    stereo = _tone(tmp_path / "stereo.wav", seconds=2.0, sr=44100, data=noise)
    wav = load_audio(stereo, sample_rate=16000)
    assert wav.dim() == 1 and wav.shape[0] == 32000
    window = load_audio(stereo, sample_rate=16000, start=0.5, duration=1.0)  # a long file is read by windows
    assert window.shape[0] == 16000


# ----------------------------------------------------------------------------------- manifests
def _manifest(path, rows, header=("ID", "wav", "duration", "label")):
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:  # \udcff: the byte 0xff
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_manifest_problems_are_reported_together(tmp_path):
    good = _tone(tmp_path / "good.wav")
    empty = str(tmp_path / "empty.wav")
    open(empty, "wb").close()
    path = _manifest(tmp_path / "train.csv", [
        ["a", good, 0.5, "dog"], ["a", good, 0.5, "cat"], ["b", empty, 0.5, "dog"],
        ["c", str(tmp_path / "gone.wav"), 0.5, "cow"],
    ])

    def encode(label):
        if label not in ("dog", "cat"):
            raise ValueError(f"label {label!r} is not one of the 2 training classes")

    with pytest.raises(ManifestError) as info:
        check_manifest(path, encode, check_audio=True)
    text = str(info.value)
    assert text.startswith(path) and "4 problem(s)" in text
    assert "duplicate ID 'a'" in text and "label 'cow'" in text
    assert f"{empty}: empty file" in text and "gone.wav: file not found" in text


@pytest.mark.parametrize("rows, header, message", [
    ([], ("ID", "wav", "duration", "label"), "empty manifest"),
    ([["a", "x.wav", "1.0"]], ("ID", "wav", "duration"), "missing column(s) label"),
    ([["a", "x.wav", "1.0", "dog"], ["b", "b\udcff.wav", "1.0", "dog"]], ("ID", "wav", "duration", "label"),
     "line 3: not UTF-8 text (byte 0xff: invalid start byte); save the manifest as UTF-8"),
])
def test_empty_manifest_and_missing_columns(tmp_path, rows, header, message):
    path = _manifest(tmp_path / "m.csv", rows, header)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_manifest(path)


# ------------------------------------------------------------------- a whole run (in process)
@pytest.fixture
def user_recipe(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i in range(8):
        label = ["low", "high"][i % 2]
        freq = 220 if label == "low" else 1760
        t = np.arange(12000) / 24000
        tone = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        rows.append([f"clip{i}", _tone(data / f"clip{i}.wav", sr=24000, data=tone), 0.5, label])
    for split in ("train", "valid", "test"):
        _manifest(data / f"{split}.csv", rows)
    hparams = tmp_path / "hparams.yaml"
    hparams.write_text(MINIMAL.format(out=tmp_path / "out", data=data, common=COMMON).replace(
        "number_of_epochs: 2", "number_of_epochs: 1").replace("crop_seconds: 0.6", "crop_seconds: null"))
    return str(hparams), data, rows


def _run_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        run_in_process(ClipBrain, argv)
    assert info.value.code != 0
    err = capsys.readouterr().err
    assert "error: " in err and "Traceback" not in err
    return err[err.index("error: "):]  # the message, with one line per problem when there are several


def test_unknown_label_in_a_user_manifest(user_recipe, capsys):
    hparams, data, rows = user_recipe
    _manifest(data / "valid.csv", rows[:3] + [["odd", rows[0][1], 0.5, "medium"]])
    line = _run_error([hparams, "--device=cpu"], capsys)
    assert f"{data}/valid.csv" in line and "label 'medium'" in line


def test_bad_audio_in_a_user_manifest_is_caught_before_training(user_recipe, capsys):
    hparams, data, rows = user_recipe
    broken = data / "broken.wav"
    broken.write_bytes(b"RIFFnonsense")
    _manifest(data / "train.csv", rows + [["broken", str(broken), 0.5, "low"]])
    line = _run_error([hparams, "--device=cpu"], capsys)
    assert f"{broken}: not a readable audio file" in line
    save = os.path.join(os.path.dirname(hparams), "out", "save")
    assert not os.path.exists(save) or not os.listdir(save)  # nothing trained


@pytest.mark.parametrize("override, message", [
    ("--method=lorra", "method: no piece 'lorra'"),
    ("--petl={name: lorra}", "unknown PETL method 'lorra'; valid: adapter"),
    ("--petl={options: {rank: 0}}", "rank must be a positive integer"),
    ("--backbone=bert", "backbone: no piece 'bert'"),
    ("--encoder={name: bert}", "unknown backbone 'bert'; valid: ast"),
    ("--number_of_epoch=2", "unknown hyperparameter 'number_of_epoch'"),
    ("--optimizer=adam", "--optimizer is only the start of SpeechBrain's run option(s) --optimizer_step_limit"),
    ("--head=7", "head must be an nn.Module (!new:) or a callable (!name:)"),
    ("--augmentation=7", "augmentation must be a petl_core.augment.Augmenter"),
    ("--lr_annealing=cosine", "lr_annealing must be a !name: of a torch LR scheduler"),
    ("--method=adapter --petl={options: {bottleneck: 4096}}", "larger than"),
    ("--max_valid_seconds=-1", "max_valid_seconds must be a positive number of seconds or null, got -1"),
    ("--task={name: key}", "--task: the yaml's task is !new:petl_core.tasks.ClassificationTask (an object without a "
     "mapping of arguments), an override gives a mapping only to a mapping"),
    ("--train_dataloader_opts={num_workers: -1}", "train_dataloader_opts[num_workers] must be an integer >= 0"),
    ("--crop_seconds=-1", "crop_seconds (seconds, or null for whole clips) must be a positive number, got -1"),
    ("--precision=fp16", "--precision=fp16: fp16 needs a CUDA device (this run is on cpu)"),
    ("--nonfinite_patience=-1", "--nonfinite_patience=-1: must be an integer >= 0"),
    ("--grad_accumulation_factor=0", "--grad_accumulation_factor=0: must be an integer >= 1"),
    ("--max_grad_norm=-1", "--max_grad_norm=-1.0: must be a number >= 0.0"),
    ("--ckpt_interval_steps=-3", "--ckpt_interval_steps=-3: must be an integer >= 0"),
    ("--output_folder=/tmp/out\udcff", "/tmp/out\\xff: a file or folder name that is not UTF-8 (byte 0xff): rename"),
    ("--seed=[1,2", "the command-line overrides:1: not valid YAML"),
])
def test_configuration_errors(user_recipe, capsys, override, message):
    hparams, _, _ = user_recipe
    assert message in _run_error([hparams, "--device=cpu", *override.split(" ")], capsys)


def _other_classes(data, rows):
    three = [r[:3] + [["low", "mid", "high"][i % 3]] for i, r in enumerate(rows)]
    for split in ("train", "valid", "test"):
        _manifest(data / f"{split}3.csv", three)
    return [f"--{split}_csv={data / f'{split}3.csv'}" for split in ("train", "valid", "test")]


@pytest.mark.parametrize("other_run, message", [
    (lambda data, rows: ["--method=bitfit"], "checkpoint does not match the trainable parameters"),
    (_other_classes, "checkpoint does not match the shapes of this model's trainable parameters (a run with other "
     "classes, head or method options?): head.bias is [2] in the checkpoint, [3] here; head.weight is [2, 32] in "
     "the checkpoint, [3, 32] here (checkpoints in {save})"),
])
def test_checkpoint_of_another_run(user_recipe, capsys, caplog, tmp_path, other_run, message):
    """Another run's checkpoint: one line; ``load_run`` of the finished run logs one accurate line
    (no "RANDOM weights" warning while the model is rebuilt before its checkpoint is loaded)."""
    import logging

    from petl_core.inference import load_run

    hparams, data, rows = user_recipe
    results = run_in_process(ClipBrain, [hparams, "--device=cpu"])
    assert results["status"] == "ok"
    save = tmp_path / "out" / "save"
    line = _run_error([hparams, "--device=cpu", *other_run(data, rows), "--number_of_epochs=2",
                       f"--output_folder={tmp_path / 'other'}", f"--checkpointer={{checkpoints_dir: {save}}}"], capsys)
    assert message.format(save=save) in line and "\n" not in line.strip()
    logging.getLogger().addHandler(caplog.handler)  # run_in_process removed every root handler, pytest's too
    caplog.clear()
    with caplog.at_level(logging.INFO):
        load_run(str(tmp_path / "out"))
    assert "RANDOM" not in caplog.text
    assert "trained weights loaded from" in caplog.text and "seeded random initialisation" in caplog.text


CHECKPOINTER = """checkpointer: !new:petl_core.checkpointing.AtomicCheckpointer
    checkpoints_dir: !ref <output_folder>/save
    recoverables: {counter: !ref <epoch_counter>}
"""


def _append(line):
    return lambda text: text + line + "\n"


def _replace(old, new):
    def edit(text):
        assert old in text
        return text.replace(old, new)
    return edit


@pytest.mark.parametrize("edit, message", [
    (_append("bootstrap_seed: 0501"), "{yaml}:39: bootstrap_seed: 0501 has a leading zero"),  # YAML 1.1 octal
    (_append("batch_sise: 8"), "{yaml}: key(s) batch_sise are read by nothing"),  # a key nobody reads
    (_append("foo: [1, 2"), "{yaml}:40: not valid YAML: expected ',' or ']', but got '<stream end>' (while parsing "
     "a flow sequence that starts on line 39)"),
    (_append("bar:\n\tbaz: 1"), "{yaml}:40: a tab character: YAML indents with spaces only"),
    (_append("seed: 4"), '{yaml}:39: a key is given twice: found duplicate key "seed" with value "4" (original '
     'value: "3"); keep one'),
    (lambda text: "\n# nothing yet\n", "{yaml}: empty hparams file (no keys)"),
    (_replace("task: !new:petl_core.tasks.ClassificationTask\n", ""), "{yaml}: no key(s) task: every recipe's yaml"),
    (_replace(CHECKPOINTER, "save_folder: !ref <output_folder>/save\n"), "{yaml}: no key(s) checkpointer"),
    (_replace("torch.optim.AdamW", "torch.optim.Adamm"), "{yaml}: a !new:/!name:/!apply: target does not exist "
     "(There is no such entity as torch.optim.Adamm)"),
    (_replace("lr_annealing: null", "lr_annealing: !name:torch.optim.lr_scheduler.StepLR"),
     "lr_annealing: StepLR missing a required argument: 'step_size'; give it in the yaml"),
    (_replace("{lr: 0.003}", '{lr: 0.003, weight_decay: "lots"}'), "opt_class: AdamW refuses its options "
     "(lr=0.003, weight_decay='lots'): weight_decay must be a number like its default 0.01, got 'lots'"),
    (_replace("{lr: 0.003}", "{lr: 0.003, betas: [0.9, 2.0]}"), "opt_class: AdamW refuses its options "
     "(lr=0.003, betas=[0.9, 2.0]): Invalid beta parameter at index 1: 2.0"),
    (_replace("head: !name:lobes.heads.LinearHead", "head: !new:torch.nn.Linear [7, 2]"),
     "head Linear does not take the backbone's 32-wide features"),
    (_replace("head: !name:lobes.heads.LinearHead", "head: !new:torch.nn.Linear [32, 5]"),
     "head Linear gives outputs of shape (2, 5) for input (2, 32), but the task has 2 output(s)"),
])
def test_a_bad_yaml_is_refused(user_recipe, capsys, edit, message):
    hparams, _, _ = user_recipe
    text = open(hparams).read()
    open(hparams, "w").write(edit(text))
    error = _run_error([hparams, "--device=cpu"], capsys)
    assert message.format(yaml=hparams) in error


def test_a_finished_folder_reruns_only_with_its_own_settings(user_recipe, capsys):
    hparams, _, _ = user_recipe
    assert run_in_process(ClipBrain, [hparams, "--device=cpu"])["status"] == "ok"
    before = open(os.path.join(os.path.dirname(hparams), "out", "results.json")).read()
    line = _run_error([hparams, "--device=cpu", "--method=bitfit", "--few_shot_seed=4"], capsys)
    assert "holds a run with other settings (few_shot_seed, method, petl, petl_state differ)" in line
    assert open(os.path.join(os.path.dirname(hparams), "out", "results.json")).read() == before  # not rewritten
    again = run_in_process(ClipBrain, [hparams, "--device=cpu", "--bootstrap_resamples=30"])
    assert again["status"] == "ok" and again["bootstrap"]["resamples"] == 30  # same settings: re-evaluated


@pytest.mark.parametrize("error, code, message", [
    (KeyboardInterrupt(), 130, "error: interrupted (Ctrl-C): rerun the same command to resume"),
    (OSError(errno.ENOSPC, "No space left on device"), 2, "error: cannot write a checkpoint in {save} (No space "
     "left on device): free space (or give another --output_folder), then rerun the same command"),
])
def test_a_checkpoint_save_stopped_by_ctrl_c_or_a_full_disk(user_recipe, capsys, monkeypatch, error, code, message):
    import torch

    def save(*args, **kwargs):
        raise error

    hparams, _, _ = user_recipe
    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(SystemExit) as info:
        run_in_process(ClipBrain, [hparams, "--device=cpu"])
    save_folder = os.path.join(os.path.dirname(hparams), "out", "save")
    captured = capsys.readouterr()
    assert info.value.code == code and "Traceback" not in captured.err
    assert message.format(save=save_folder) in captured.err and os.listdir(save_folder) == []  # nothing half-written
    shown = (captured.out + captured.err).count(message.format(save=save_folder).removeprefix("error: "))
    log = open(os.path.join(os.path.dirname(save_folder), "log.txt")).read()
    assert shown == 1 and message.format(save=save_folder).removeprefix("error: ") in log  # once, and in log.txt


def test_a_finished_run_extends_with_more_epochs_and_records_its_command(user_recipe, capsys, tmp_path, monkeypatch):
    """``--number_of_epochs`` larger than a finished run's continues it from its last checkpoint (the
    first epoch is not trained again); fewer epochs, more with an lr schedule, or more with another
    number of processes are refused. The command line is in results.json (``config.command``)."""
    import petl_core.checkpointing

    hparams, _, _ = user_recipe
    train_py = str(tmp_path / "train.py")
    first = run_in_process(ClipBrain, [hparams, "--device=cpu"], recipe_file=train_py)
    assert first["config"]["command"] == f"python {train_py} {hparams} --device=cpu"
    longer = run_in_process(ClipBrain, [hparams, "--device=cpu", "--number_of_epochs=2"])
    assert longer["epochs"] == 2 and longer["valid_history"][0] == first["valid_history"][0]
    assert longer["epoch_seconds"][0] == first["epoch_seconds"][0]  # restored, not trained again
    for override in ("--number_of_epochs=1", "--lr_annealing=!name:torch.optim.lr_scheduler.CosineAnnealingLR"):
        line = _run_error([hparams, "--device=cpu", "--number_of_epochs=3", override], capsys)
        assert "holds a run with other settings" in line and "a larger number_of_epochs extends a run that" in line
    monkeypatch.setattr(petl_core.checkpointing, "world_size", lambda: 2)  # the world size ProcessCount sees
    line = _run_error([hparams, "--device=cpu", "--number_of_epochs=3"], capsys)
    assert "this run was trained by 1 process(es), this command runs 2: resume it with 1" in line


def test_a_run_says_each_thing_once(user_recipe, capsys):
    """Newcomer friction: one parameter count, no tqdm redraws into a redirected stream, no pip freeze
    in log.txt (it is in env.log), no "torchvision is not available" notice."""
    import subprocess

    hparams, _, _ = user_recipe
    results = run_in_process(ClipBrain, [hparams, "--device=cpu"])
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    counts = results["params"]
    assert "Model Statistics" not in shown and shown.count("parameters: ") == 1
    assert (f"parameters: {counts['trainable'] + counts['head']:,} trainable ({counts['trainable']:,} of the backbone "
            f"and method + {counts['head']:,} of the head) of {counts['total'] + counts['head']:,} in all") in shown
    assert "\r" not in shown and "it/s" not in shown  # stderr is not a terminal here: no bars
    out = os.path.join(os.path.dirname(hparams), "out")
    assert "torch==" not in open(os.path.join(out, "log.txt")).read()
    assert "torch==" in open(os.path.join(out, "env.log")).read()
    imported = subprocess.run([sys.executable, "-c", "import petl_core, speechbrain.utils.train_logger"],
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0 and "torchvision" not in imported.stderr + imported.stdout


def test_a_file_name_that_is_not_utf8_is_logged_escaped(tmp_path, capsys):
    """A name whose bytes are not UTF-8 (e.g. found by a prepare step) in a log record: written with
    the bytes escaped, on the console and in log.txt, without a "--- Logging error ---" traceback."""
    import logging

    from petl_core.output_folder import write_experiment_files

    hparams = tmp_path / "h.yaml"
    hparams.write_text("seed: 1\n")
    write_experiment_files(str(tmp_path / "out"), str(hparams), "seed: 1\n", None)
    try:
        logging.getLogger("petl_core.test").warning("skipping %s", str(tmp_path / "bad\udcff.wav"))
    finally:
        for handler in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(handler)
            handler.close()
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err and "bad\\xff.wav" in captured.out
    assert "bad\\xff.wav" in (tmp_path / "out" / "log.txt").read_text()


def test_two_runs_on_one_folder_at_once(user_recipe, capsys):
    import subprocess

    hparams, _, _ = user_recipe
    out = os.path.join(os.path.dirname(hparams), "out")
    os.makedirs(out)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               os.path.join(out, ".run.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = _run_error([hparams, "--device=cpu"], capsys)
        assert "another run is using this output folder right now" in line and out in line
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("override, message", [
    ("--number_of_epochs=0", "number_of_epochs must be a positive integer, got 0"),
    ("--number_of_epochs=abc", "number_of_epochs must be a positive integer, got 'abc'"),
    ("--train_dataloader_opts={batch_size: 2.5}", "train_dataloader_opts[batch_size] must be a positive integer"),
    ("--valid_dataloader_opts={batch_size: 0}", "valid_dataloader_opts[batch_size] must be a positive integer"),
    ("--opt_class={lr: fast}", "lr must be a positive number, got 'fast'"),
])
def test_bad_values_are_one_clear_error(user_recipe, capsys, override, message):
    hparams, _, _ = user_recipe
    assert message in _run_error([hparams, "--device=cpu", override], capsys)


def test_nan_samples_in_the_test_set_after_training_then_rerun_evaluates(user_recipe, capsys):
    """A NaN sample shows only when the file is decoded (here: the test set, after training): one
    message naming the file and the split; the same command, once the file is fixed, evaluates
    without training again and writes results.json."""
    hparams, data, rows = user_recipe
    bad = data / "nan.wav"
    samples = np.zeros(12000, dtype=np.float32)
    samples[100] = np.nan
    sf.write(bad, samples, 24000, subtype="FLOAT")
    _manifest(data / "test.csv", rows + [["nan", str(bad), 0.5, "low"]])
    line = _run_error([hparams, "--device=cpu"], capsys)
    assert f"{bad}: contains NaN or inf samples (in the test set; training finished" in line
    out = os.path.join(os.path.dirname(hparams), "out")
    assert not os.path.exists(os.path.join(out, "results.json"))
    sf.write(bad, np.zeros(12000, dtype=np.float32), 24000, subtype="FLOAT")  # the user fixes the file
    results = run_in_process(ClipBrain, [hparams, "--device=cpu"])
    assert results["status"] == "ok" and results["n_items"]["test"] == len(rows) + 1
    assert results["epochs"] == 1 and len(results["valid_history"]) == 1  # the first run's epoch, not a new one


def test_feature_cache_keeps_valid_and_test_clips_apart_and_refuses_another_backbone(user_recipe, capsys, tmp_path):
    """IDs are unique per manifest only: a test clip sharing a valid clip's ID must not read its
    cached features; a cache folder written by one backbone is refused by another."""
    hparams, data, rows = user_recipe
    swapped = [[r[0], rows[(i + 1) % len(rows)][1], r[2], rows[(i + 1) % len(rows)][3]] for i, r in enumerate(rows)]
    _manifest(data / "test.csv", swapped)  # same IDs as valid.csv, other files
    with open(hparams, "a") as f:
        f.write("feature_cache: null\n")
    out = os.path.join(os.path.dirname(hparams), "out")
    results = {}
    for cache in ("null", str(tmp_path / "cache")):
        results[cache] = run_in_process(ClipBrain, [hparams, "--device=cpu", f"--feature_cache={cache}",
                                                              f"--output_folder={out}-{len(results)}"])
    plain, cached = results["null"], results[str(tmp_path / "cache")]
    for split in ("valid", "test"):
        assert cached[split] == pytest.approx(plain[split], rel=1e-4, abs=1e-6)
    line = _run_error([hparams, "--device=cpu", f"--feature_cache={tmp_path / 'cache'}", "--encoder={num_layers: 1}",
                       f"--output_folder={out}-other"], capsys)
    assert f"feature cache {tmp_path / 'cache'} holds features of another configuration (num_layers differ" in line


def test_a_device_this_machine_lacks_and_an_output_folder_that_is_a_file(user_recipe, capsys, tmp_path):
    import torch

    hparams, _, _ = user_recipe
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: absent on every machine
    line = _run_error([hparams, f"--device={missing}"], capsys)
    assert line.startswith(f"error: --device={missing}: ") and ("use --device=cpu" in line or "cuda:0 to" in line)
    a_file = tmp_path / "results.txt"
    a_file.write_text("a user's file")
    line = _run_error([hparams, "--device=cpu", f"--output_folder={a_file}"], capsys)
    assert f"output_folder {a_file} is a file, not a folder" in line and a_file.read_text() == "a user's file"


# ------------------------------------------------------------- the task's options, early stopping
def test_label_smoothing_changes_the_run_or_is_refused(user_recipe, capsys):
    """``task: ... {label_smoothing: 0.9}`` reaches compute_cost: another loss (it used to be dropped);
    with a compute_cost that has no such option: one clear error before training."""
    hparams, _, _ = user_recipe
    text = open(hparams).read()
    plain = run_in_process(ClipBrain, [hparams, "--device=cpu"])
    smoothed_yaml = hparams.replace(".yaml", "_smoothed.yaml")
    open(smoothed_yaml, "w").write(text.replace(
        "task: !new:petl_core.tasks.ClassificationTask", "task: !new:petl_core.tasks.ClassificationTask "
        "{label_smoothing: 0.9}").replace("out\n", "out_smoothed\n"))
    smoothed = run_in_process(ClipBrain, [smoothed_yaml, "--device=cpu"])
    assert smoothed["config"]["task"]["label_smoothing"] == 0.9
    assert abs(smoothed["valid_history"][0]["loss"] - plain["valid_history"][0]["loss"]) > 0.05
    refused = hparams.replace(".yaml", "_refused.yaml")
    open(refused, "w").write(open(smoothed_yaml).read().replace(
        "compute_cost: !name:torch.nn.functional.cross_entropy",
        "compute_cost: !name:torch.nn.functional.multi_margin_loss").replace("out_smoothed\n", "out_refused\n"))
    line = _run_error([refused, "--device=cpu"], capsys)
    assert "task option label_smoothing=0.9 goes to compute_cost (multi_margin_loss), which does not take it" in line


def test_early_stopping_with_speechbrains_counter(user_recipe, capsys):
    """The yaml swap to ``EpochCounterWithStopper`` works: the run trains the epochs SpeechBrain's
    counter decides from the validation accuracies the run reported (an unchanged accuracy counts
    as an improvement for SpeechBrain's counter: see test_brain for a stop); a rerun resumes the
    counter (no more epochs); a counter whose direction is not the metric's is refused."""
    hparams, _, _ = user_recipe
    text = open(hparams).read()
    old = "epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter {limit: !ref <number_of_epochs>}"
    assert old in text
    stopper = ("epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounterWithStopper\n"
               "    {limit: !ref <number_of_epochs>, limit_to_stop: 1, limit_warmup: 0, direction: max}")
    open(hparams, "w").write(text.replace(old, stopper).replace("number_of_epochs: 1", "number_of_epochs: 5")
                             .replace("{lr: 0.003}", "{lr: 0.05, maximize: true}"))  # the metric gets worse
    results = run_in_process(ClipBrain, [hparams, "--device=cpu"])
    accuracies = [h["accuracy"] for h in results["valid_history"]]
    counter = EpochCounterWithStopper(5, limit_to_stop=1, limit_warmup=0, direction="max")
    for epoch in counter:  # SpeechBrain's own decision on the accuracies the run reported
        counter.update_metric(accuracies[epoch - 1])
    assert results["status"] == "ok" and results["epochs"] == len(accuracies) == counter.current
    again = run_in_process(ClipBrain, [hparams, "--device=cpu"])
    assert again["epochs"] == results["epochs"] and again["valid_history"] == results["valid_history"]
    line = _run_error([hparams, "--device=cpu", "--epoch_counter={direction: min}",
                       f"--output_folder={os.path.dirname(hparams)}/other"], capsys)
    assert "epoch_counter: direction 'min', but the task's main metric accuracy is better when higher" in line

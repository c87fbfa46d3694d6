"""Arguments of the tools (tsne, few_shot, run_grid, layer_sweep, extract_features, predict, collect_results,
count_params, new_recipe, export_adapter, check_install, benchmark, gpu_check): every value out of its range is
refused before anything is built, run or written, with argparse's one ``error:`` line (exit status 2); old ``--dash-style``
spellings still work with a deprecation line (:mod:`petl_core.cli_args`)."""
from __future__ import annotations

import argparse
import os
import re
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))

import check_install  # noqa: E402
import collect_results  # noqa: E402
import count_params  # noqa: E402
import export_adapter  # noqa: E402
import extract_features  # noqa: E402
import few_shot  # noqa: E402
import layer_sweep  # noqa: E402
import new_recipe  # noqa: E402
import predict  # noqa: E402
import run_grid  # noqa: E402
import tsne  # noqa: E402

import gpu_check  # noqa: E402  (it puts the repository on sys.path when missing, for tools.benchmark)
from petl_core import cli_args  # noqa: E402
from tools import benchmark  # noqa: E402
from tools.benchmark import checkpointing, eval_memory, extras, methods, peers, workers  # noqa: E402

RECIPE = os.path.join(REPO, "recipes", "SynthMusic", "key")
TRAIN_PY = os.path.join(RECIPE, "train.py")
HPARAMS = os.path.join(RECIPE, "hparams", "default.yaml")
FEW_SHOT = [TRAIN_PY, HPARAMS, "--k", "2", "--out", "{tmp}/few"]
PREDICT = ["--run", "{tmp}/run", "{tmp}/a.wav"]
COUNT = ["--backbone", "ast", "--method", "lora"]
EXPORT = ["{tmp}/run", "--out", "{tmp}/adapter"]
BENCH = ["--backbone", "ast", "--config", "tiny", "--out", "{tmp}/bench"]  # the methods measurement
PEERS = ["peers", "--config", "tiny", "--out", "{tmp}/peers"]
CKPT = ["checkpointing", "--config", "tiny", "--out", "{tmp}/ckpt"]
GPU = ["--device", "cpu", "--out", "{tmp}/gpu.json"]


def _forbidden(*args, **kwargs):
    raise AssertionError("built or ran something before the arguments were checked")


@pytest.fixture
def nothing_runs(monkeypatch):
    """Model building, training subprocesses, grid runs, reading results and writing a scaffold fail the
    test if they are reached."""
    monkeypatch.setattr(tsne, "load_run", _forbidden)
    monkeypatch.setattr(predict, "load_run", _forbidden)
    monkeypatch.setattr("petl_core.inference.load_run", _forbidden)  # export_adapter imports it when it runs
    monkeypatch.setattr(collect_results, "read_runs", _forbidden)
    for built in ("count", "count_recipe", "compute_table"):
        monkeypatch.setattr(count_params, built, _forbidden)
    monkeypatch.setattr(new_recipe, "scaffold", _forbidden)
    monkeypatch.setattr(check_install, "_checks", _forbidden)
    monkeypatch.setattr(extract_features, "build_backbone", _forbidden)
    monkeypatch.setattr(few_shot.subprocess, "run", _forbidden)
    monkeypatch.setattr(run_grid, "execute", _forbidden)
    for measurement in (methods, peers, checkpointing, eval_memory):
        monkeypatch.setattr(measurement, "build_base", _forbidden)
    monkeypatch.setattr(extras, "build_backbone", _forbidden)
    monkeypatch.setattr(workers.subprocess, "Popen", _forbidden)
    monkeypatch.setattr(gpu_check, "run", _forbidden)


def _grid_file(tmp_path, text: str) -> str:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return str(path)


# (tool, argv with {tmp}, a fragment of the error line); grid files are written by _grid_file
REFUSED = [
    (tsne, ["--run", "r", "--perplexity", "-5"], "--perplexity: must be a number > 0, got '-5'"),
    (tsne, ["--run", "r", "--perplexity", "0"], "--perplexity: must be a number > 0"),
    (tsne, ["--run", "r", "--perplexity", "nan"], "--perplexity: must be a number > 0 (finite), got 'nan'"),
    (tsne, ["--run", "r", "--max_items", "-1"], "--max_items: must be an integer >= 0, got '-1'"),
    (tsne, ["--run", "r", "--max-items", "-3"], "--max-items: must be an integer >= 0"),
    (tsne, ["--run", "r", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (tsne, ["--run", "r", "--seed", "1.5"], "--seed: must be an integer"),
    (tsne, ["--run", "r", "--device", "gpu"], "--device: must be cpu, cuda or cuda:N, got 'gpu'"),
    (tsne, ["--run", "r", "--device", "cuda:99"], "cuda:99: this machine has"),
    (extract_features, ["--backbone", "ast", "--config", "tiny", "--layer", "-1", "--out", "f.pt", "a.wav"],
     "--layer: must be an integer >= 0"),
    (extract_features, ["--backbone", "ast", "--config", "tiny", "--num_layers", "0", "--out", "f.pt", "a.wav"],
     "--num_layers: must be an integer >= 1"),
    (extract_features, ["--backbone", "ast", "--config", "tiny", "--num-layers", "0", "--out", "f.pt", "a.wav"],
     "--num-layers: must be an integer >= 1"),
    (extract_features, ["--backbone", "ast", "--config", "tiny", "--device", "cpu:1", "--out", "f.pt", "a.wav"],
     "--device: must be cpu, cuda or cuda:N"),
    (extract_features, ["--backbone", "ast", "--config", "tiny", "--out", "{tmp}", "a.wav"],
     "is a folder: give a file name"),
    (extract_features, ["--backbone", "ast", "--config", "tiny", "--pretrained", "m-a-p/x", "--out", "f.pt",
                        "a.wav"], "give --pretrained or --config, not both"),
    (few_shot, [TRAIN_PY, HPARAMS, "--k", "0", "--out", "{tmp}/few"], "--k: must be an integer >= 1, got '0'"),
    (few_shot, [*FEW_SHOT, "--seeds", "-1"], "--seeds: must be an integer >= 0"),
    (few_shot, [*FEW_SHOT, "--seeds", "1", "1"], "repeats a seed"),
    (few_shot, [*FEW_SHOT, "--", "--few_shot_k=4"], "--few_shot_k=4 after --: the tool sets few_shot_k itself"),
    (few_shot, [*FEW_SHOT, "--", "--few_shot_seed", "3"], "sets few_shot_seed itself for each run; use --seeds"),
    (few_shot, [*FEW_SHOT, "--", "--output_folder={tmp}/elsewhere"], "output_folder itself for each run; use --out"),
    (few_shot, [*FEW_SHOT, "--", "--results_file=r.json"], "the tool sets results_file itself"),
    (few_shot, ["{tmp}/missing/train.py", HPARAMS, "--k", "1", "--out", "{tmp}/few"], "train.py: file not found"),
    (run_grid, ["--recipe", RECIPE, "--torchrun", "0", "--dry_run"], "--torchrun: must be an integer >= 1"),
    (run_grid, ["--recipe", RECIPE, "--python", "{tmp}/no_python", "--dry_run"], "no such interpreter"),
    (run_grid, ["--recipe", "{tmp}/recipes/Nope/task", "--axis", "seed=1", "--dry_run"],
     "recipe {tmp}/recipes/Nope/task: {tmp}/recipes/Nope/task not found"),
    (run_grid, ["--recipe", RECIPE, "--root", "{tmp}/grid.yaml", "--dry_run"], "is a file, not a folder"),
    (run_grid, ["grid:recipes: [a\naxes: {seed: [1]}\n", "--dry_run"], "grid.yaml: line 2 not valid yaml"),
    (run_grid, ["grid:- recipes\n", "--dry_run"], "a grid file must be a mapping"),
    (run_grid, ["grid:recipes: 5\n", "--dry_run"], "recipes must be a list of recipe folders"),
    (run_grid, ["grid:recipes: [x]\naxes: [seed]\n", "--dry_run"], "axes must be a mapping"),
    (run_grid, ["grid:recipes: [x]\naxes: {seed: []}\n", "--dry_run"], "axis seed has no values"),
    (run_grid, ["grid:recipes: [x]\nset: [1, 2]\n", "--dry_run"], "set must be a mapping"),
    (run_grid, ["grid:recipes: [x]\ntorchrun: 0\n", "--dry_run"], "torchrun must be a number of processes >= 1"),
    (run_grid, ["grid:recipes: [x]\nroot: [a]\n", "--dry_run"], "root must be a path"),
    (run_grid, ["grid:recipe: [x]\n", "--dry_run"], "unknown key(s) recipe"),
    (layer_sweep, [RECIPE, "--layers", "-1"], "--layers: '-1': expected 'a-b' or 'a,b,c' of integers >= 0"),
    (layer_sweep, [RECIPE, "--layers", "3-1"], "range 3-1 is empty"),
    (layer_sweep, [RECIPE, "--layers", "1,1"], "names a layer twice"),
    (layer_sweep, [RECIPE, "--num_layers", "0,3"], "--num_layers: '0,3': expected 'a-b' or 'a,b,c' of integers >= 1"),
    (layer_sweep, [RECIPE, "--num_layers", "3", "--num_layers_override", "encoder=6"], "needs the form key="),
    (layer_sweep, [RECIPE, "--set", "novalue"], "--set must look like key=value"),
    (layer_sweep, ["{tmp}/nope"], "{tmp}/nope not found"),
    (layer_sweep, [RECIPE, "--hparams", "hparams/missing.yaml"], "hparams file"),
    (layer_sweep, ["--plot_weights", "{tmp}"], "no results.json there"),
    (layer_sweep, [RECIPE, "--python", "{tmp}/no_python"], "no such interpreter"),
    (predict, [*PREDICT, "--top_k", "-1"], "--top_k: must be an integer >= 0, got '-1'"),
    (predict, [*PREDICT, "--top-k", "2.5"], "--top-k: must be an integer >= 0, got '2.5'"),
    (predict, [*PREDICT, "--threshold", "1.5"], "--threshold: must be a number >= 0 and <= 1, got '1.5'"),
    (predict, [*PREDICT, "--threshold", "-0.1"], "--threshold: must be a number >= 0 and <= 1"),
    (predict, [*PREDICT, "--threshold", "nan"], "--threshold: must be a number >= 0 and <= 1 (finite)"),
    (predict, [*PREDICT, "--threshold", "x"], "--threshold: must be a number >= 0 and <= 1, got 'x'"),
    (predict, [*PREDICT, "--max_seconds", "-5"], "--max_seconds: must be a number > 0, got '-5'"),
    (predict, [*PREDICT, "--max_seconds", "0"], "--max_seconds: must be a number > 0, got '0'"),
    (predict, [*PREDICT, "--max_seconds", "inf"], "--max_seconds: must be a number > 0 (finite), got 'inf'"),
    (predict, [*PREDICT, "--max-seconds", "abc"], "--max-seconds: must be a number > 0, got 'abc'"),
    (predict, [*PREDICT, "--max_seconds", "3", "--whole_file"],
     "--whole_file: not allowed with argument --max_seconds"),
    (predict, [*PREDICT, "--device", "gpu"], "--device: must be cpu, cuda or cuda:N, got 'gpu'"),
    (collect_results, ["{tmp}", "--out", "{tmp}/tables", "--digits", "11"],
     "--digits: must be an integer >= 0 and <= 10, got '11'"),
    (collect_results, ["{tmp}", "--out", "{tmp}/tables", "--digits", "-1"], "--digits: must be an integer >= 0"),
    (collect_results, ["{tmp}", "--out", "{tmp}/tables", "--metric", "T"], "--metric must look like TASK=metric"),
    (count_params, [*COUNT, "--num_layers", "0"], "--num_layers: must be an integer >= 1, got '0'"),
    (count_params, [*COUNT, "--num-layers", "-2"], "--num-layers: must be an integer >= 1, got '-2'"),
    (count_params, [*COUNT, "--classes", "-1"], "--classes: must be an integer >= 0, got '-1'"),
    (count_params, [*COUNT, "--head", "cnn"], "--head: invalid choice: 'cnn'"),
    (count_params, [*COUNT, "--config", "huge"], "--config: invalid choice: 'huge'"),
    (count_params, ["--table", "ding2024", "--classes", "10"], "it takes no other option (got --classes)"),
    (count_params, ["--table", "ding2024", "--rank=2"], "it takes no other option (got --rank=2)"),
    (count_params, ["--recipe", "{tmp}/h.yaml", "--config", "tiny"], "with --recipe, change the configuration as"),
    (export_adapter, [*EXPORT, "--push_to_hub", "nobody"], "--push_to_hub 'nobody': give a repository id OWNER/NAME"),
    (export_adapter, [*EXPORT, "--private"], "--private applies to the repository --push_to_hub creates"),
    (new_recipe, ["bad/name", "--task", "key", "--dest", "{tmp}"], "invalid name 'bad/name'"),
    (new_recipe, ["Keys", "--task", "chords", "--dest", "{tmp}"], "--task: invalid choice: 'chords'"),
    (check_install, ["--verbose"], "unrecognized arguments: --verbose"),
    (benchmark, [*BENCH, "--num_layers", "0"], "--num_layers: must be an integer >= 1, got '0'"),
    (benchmark, [*BENCH, "--num-layers", "-1"], "--num-layers: must be an integer >= 1"),
    (benchmark, [*BENCH, "--batch", "0"], "--batch: must be an integer >= 1, got '0'"),
    (benchmark, [*BENCH, "--seconds", "0"], "--seconds: must be a number > 0, got '0'"),
    (benchmark, [*BENCH, "--seconds", "nan"], "--seconds: must be a number > 0 (finite)"),
    (benchmark, [*BENCH, "--repeats", "0"], "--repeats: must be an integer >= 1"),
    (benchmark, [*BENCH, "--warmup", "-1"], "--warmup: must be an integer >= 0"),
    (benchmark, [*BENCH, "--memory_jobs", "0"], "--memory_jobs: must be an integer >= 1"),
    (benchmark, [*BENCH, "--threads", "0"], "--threads: must be an integer >= 1, got '0'"),
    (benchmark, [*BENCH, "--seed", "-1"], "--seed: must be an integer >= 0"),
    (benchmark, [*BENCH, "--device", "gpu"], "--device: must be cpu, cuda or cuda:N, got 'gpu'"),
    (benchmark, [*BENCH, "--eval_seconds", "30,-5"], "--eval_seconds: must be a number > 0, got '-5' (in '30,-5')"),
    (benchmark, [*BENCH, "--eval-seconds", "x"], "--eval-seconds: must be a number > 0, got 'x'"),
    (benchmark, [*BENCH, "--eval_window", "0"], "--eval_window: must be a number > 0"),
    (benchmark, [*BENCH, "--eval_chunk_size", "0"], "--eval_chunk_size: must be an integer >= 1"),
    (benchmark, [*BENCH, "--pipeline_workers", "0,-1"], "--pipeline_workers: must be an integer >= 0, got '-1'"),
    (benchmark, [*BENCH, "--pipeline_items", "0"], "--pipeline_items: must be an integer >= 1"),
    (benchmark, [*BENCH, "--methods", "lorra"], "--methods: unknown method 'lorra'"),
    (benchmark, [*PEERS, "--repeats", "1"], "--repeats: must be an integer >= 2, got '1'"),
    (benchmark, [*PEERS, "--memory-jobs", "0"], "--memory-jobs: must be an integer >= 1"),
    (benchmark, [*CKPT, "--memory_batches", "0,2"], "--memory_batches: must be an integer >= 1, got '0'"),
    (benchmark, [*CKPT, "--memory_batches", "2,2"], "--memory_batches: at least two different batch sizes"),
    (benchmark, [*CKPT, "--fit_batch", "0"], "--fit_batch: must be an integer >= 1"),
    (benchmark, [*CKPT, "--fit_gb", "-24"], "--fit_gb: must be a number > 0"),
    (benchmark, [*CKPT, "--fit-gb", "inf"], "--fit-gb: must be a number > 0 (finite)"),
    (gpu_check, [*GPU, "--steps", "1"], "--steps: must be an integer >= 2, got '1'"),
    (gpu_check, [*GPU, "--batch", "0"], "--batch: must be an integer >= 1"),
    (gpu_check, [*GPU, "--seconds", "-1"], "--seconds: must be a number > 0"),
    (gpu_check, ["--device", "tpu"], "--device: must be cpu, cuda or cuda:N, got 'tpu'"),
    (gpu_check, ["--device", "cuda:0", "--out", "{tmp}/gpu.json"], "--device: "),
]


@pytest.mark.parametrize("tool, argv, message", REFUSED,
                         ids=[f"{t.__name__}:{' '.join(a)[-40:]}" for t, a, _ in REFUSED])
def test_out_of_range_is_one_error_line_before_anything_runs(tool, argv, message, tmp_path, capsys, nothing_runs):
    tmp = str(tmp_path)
    argv = [a.replace("{tmp}", tmp) for a in argv]
    if argv[0].startswith("grid:"):
        argv[0] = _grid_file(tmp_path, argv[0][len("grid:"):])
    if "--root" in argv:
        _grid_file(tmp_path, "")  # the --root given is this file
    before = sorted(os.listdir(tmp))
    try:
        code = tool.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message.replace("{tmp}", tmp) in errors[0], err
    assert "Traceback" not in err
    assert sorted(os.listdir(tmp)) == before  # nothing written


PARSERS = {"tsne": tsne.parse_args, "extract_features": extract_features.parse_args, "run_grid": run_grid.parse_args,
           "layer_sweep": layer_sweep.parse_args, "few_shot": lambda argv: few_shot.parse_args(argv, []),
           "predict": predict.parse_args, "collect_results": collect_results.parse_args,
           "count_params": lambda argv: count_params.parse_args(argv)[0], "new_recipe": new_recipe.parse_args,
           "export_adapter": export_adapter.parse_args, "check_install": check_install.main,
           **{f"benchmark {m}": lambda argv, m=m: benchmark.parse_args([m, *argv]) for m in benchmark.cli.MEASUREMENTS},
           "gpu_check": gpu_check.parse_args}

# (tool, the other arguments, old spelling, new spelling, its value tokens)
ALIASES = [
    ("tsne", ["--run", "r"], "--max-items", "--max_items", ["4"]),
    ("extract_features", ["--backbone", "ast", "--out", "f.pt", "a.wav"], "--num-layers", "--num_layers", ["2"]),
    ("run_grid", ["--recipe", RECIPE], "--dry-run", "--dry_run", []),
    ("predict", ["--run", "r", "a.wav"], "--top-k", "--top_k", ["3"]),
    ("predict", ["--run", "r", "a.wav"], "--max-seconds", "--max_seconds", ["2.5"]),
    ("predict", ["--run", "r", "a.wav"], "--whole-file", "--whole_file", []),
    ("predict", ["--run", "r", "a.wav"], "--annotations-dir", "--annotations_dir", ["beats"]),
    ("collect_results", ["results", "--out", "tables"], "--no-percent", "--no_percent", []),
    ("count_params", ["--backbone", "ast", "--method", "lora"], "--num-layers", "--num_layers", ["6"]),
    ("export_adapter", ["run", "--out", "adapter"], "--push-to-hub", "--push_to_hub", ["me/adapter"]),
    *[("benchmark methods", ["--backbone", "ast", "--out", "o"], old, old.replace("-", "_").replace("__", "--"), value)
      for old, value in (("--num-layers", ["6"]), ("--memory-jobs", ["2"]), ("--no-memory", []),
                         ("--method-options", ['{"lora": {"rank": 2}}']), ("--no-extras", []),
                         ("--eval-seconds", ["30,60"]), ("--eval-window", ["2.5"]), ("--eval-chunk-size", ["3"]),
                         ("--pipeline-workers", ["0,2"]), ("--pipeline-items", ["8"]))],
    ("benchmark peers", ["--out", "o"], "--no-memory", "--no_memory", []),
    ("benchmark checkpointing", ["--out", "o"], "--memory-batches", "--memory_batches", ["2,4"]),
    ("benchmark checkpointing", ["--out", "o"], "--fit-batch", "--fit_batch", ["8"]),
    ("benchmark checkpointing", ["--out", "o"], "--fit-gb", "--fit_gb", ["80"]),
    ("gpu_check", ["--device", "cpu"], "--no-ddp", "--no_ddp", []),
]


@pytest.mark.parametrize("tool, base, old, new, value", ALIASES, ids=[f"{a[0]}:{a[3]}" for a in ALIASES])
def test_old_spelling_works_with_a_deprecation_line(tool, base, old, new, value, capsys):
    parse = PARSERS[tool]
    attribute = new[2:]
    default = getattr(parse(base), attribute)
    assert getattr(parse([*base, new, *value]), attribute) != default
    assert capsys.readouterr().err == ""
    assert getattr(parse([*base, old, *value]), attribute) == getattr(parse([*base, new, *value]), attribute)
    assert capsys.readouterr().err == f"warning: {old} is deprecated, use {new} (the same option)\n"
    help_text = _help(parse, capsys)
    assert new in help_text and old not in help_text  # the old spelling is hidden from --help


def _help(parse, capsys) -> str:
    with pytest.raises(SystemExit):
        parse(["--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("tool", sorted(PARSERS))
def test_options_use_underscores(tool, capsys):
    """One flag style across the tools, as the recipes' overrides (``--max_items``, not ``--max-items``)."""
    options = re.findall(r"(?<![\w-])--[a-z][\w-]*", _help(PARSERS[tool], capsys))
    assert options and not [o for o in options if "-" in o[2:]], options


def test_run_grid_help_names_existing_pieces():
    """The examples' backbone/method values are piece files of recipes/hparams_common."""
    doc = run_grid.__doc__
    named = {}
    for key, values in re.findall(r"(backbone|method)=([\w,]+)", doc) + re.findall(r"(backbone|method): \[([^\]]+)\]",
                                                                                     doc):
        named.setdefault(key, set()).update(v.strip() for v in values.split(","))
    assert set(named) == {"backbone", "method"}
    for key, values in named.items():
        folder = os.path.join(REPO, "recipes", "hparams_common", f"{key}s")
        assert {v for v in values if not os.path.isfile(os.path.join(folder, f"{v}.yaml"))} == set(), key


def test_few_shot_names_the_missing_results_of_a_run_that_exited_0(tmp_path, capsys):
    """A run that exits 0 without results.json is a failure that says so (not 'FAILED (exit 0)')."""
    quiet = tmp_path / "train.py"
    quiet.write_text("")
    hparams = tmp_path / "h.yaml"
    hparams.write_text("")
    assert few_shot.main([str(quiet), str(hparams), "--k", "1", "--seeds", "3", "--out", str(tmp_path / "f")]) == 1
    err = capsys.readouterr().err
    assert f"seed 3 FAILED (exit 0 but no results.json in {tmp_path / 'f' / 'k1_s3'})" in err


@pytest.mark.parametrize("tty, redraws", [(False, range(2, 11)), (True, range(500, 1003))])
def test_progress_redraws_rarely_when_redirected(tty, redraws, monkeypatch):
    """200 s of work: redirected, a redraw every 30 s (not a ``\\r`` record per item); on a terminal, live."""
    import io

    stream = io.StringIO()
    stream.isatty = lambda: tty
    monkeypatch.setattr(sys, "stderr", stream)
    clock = iter(range(10**6))
    monkeypatch.setattr("tqdm.std.time", lambda: next(clock) * 0.2)  # 0.2 s per item
    for _ in cli_args.progress(range(1000), desc="items", miniters=1):
        pass
    text = stream.getvalue()
    assert "1000/1000" in text
    assert text.count("\r") in redraws


def test_range_types_accept_their_bounds():
    assert cli_args.int_range(0, 3)("0") == 0 and cli_args.int_range(0, 3)("3") == 3
    assert cli_args.float_range(0, 1)("1") == 1.0
    for parse, text in ((cli_args.int_range(0, 3), "4"), (cli_args.float_range(0, 1, high_open=True), "1"),
                        (cli_args.float_range(0), "inf"), (cli_args.int_range(), "x")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_no_tool_writes_its_own_error_line():
    """A tool's problem ends through petl_core.entry.fail (one ``error:`` line, the status returned), not a
    copy of it. check_install reports on stdout, one line per broken package pair."""
    tools = os.path.join(REPO, "tools")
    files = [os.path.join(tools, name) for name in os.listdir(tools) if name.endswith(".py")]
    files += [os.path.join(tools, "benchmark", name) for name in os.listdir(os.path.join(tools, "benchmark"))
              if name.endswith(".py")]
    copies = [os.path.relpath(path, tools) for path in sorted(files) if os.path.basename(path) != "check_install.py"
              and re.search(r"""["']error: |def _fail\(""", open(path).read())]
    assert copies == []

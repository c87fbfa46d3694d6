"""Manifests: the CSV files every dataset preparation writes and every recipe reads.

A manifest is a CSV with the header ``ID,wav,duration,label`` plus optional extra columns
(``fold``, ``start``, ...), readable by SpeechBrain's ``DynamicItemDataset.from_csv``:

- ``ID``: unique per manifest;
- ``wav``: absolute path of the audio file (wav, flac, ogg, au or mp3);
- ``duration``: seconds, from ``soundfile.info``;
- ``label``: classification: the class name; tagging: the tags joined by ``;`` (empty when a clip
  has none of the vocabulary's tags); key: a mir_eval key string such as ``C major`` or
  ``F# minor`` (sharps only, see :func:`normalize_key`); tempo: the BPM as a float string
  (see :func:`format_bpm`).

Helpers:

- :func:`write_manifest` writes atomically and refuses duplicate IDs, empty row lists and rows
  missing a column;
- :func:`validate_audio` checks every file (missing, empty, unreadable, zero-length; optionally
  NaN/inf samples, which needs decoding) and reports all problems at once;
  :func:`finalize_rows` uses it to fill ``duration`` and then raises one :class:`BadAudioError`
  listing every bad file, or drops them (``skip_bad_files=True``) logging each;
- :func:`prepare_once` skips a preparation whose manifests exist with the same options;
- :func:`download_and_extract` fetches and checks an archive (used only with ``download=True``).

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> rows = [{"ID": "a", "wav": "/data/a.wav", "duration": 1.0, "label": "dog"}]
    >>> path = write_manifest(rows, os.path.join(folder, "train.csv"))
    >>> read_manifest(path)[0]["label"]
    'dog'
    >>> normalize_key("Eb minor"), normalize_key("a major"), normalize_key("C minor / G major")
    ('D# minor', 'A major', None)
    >>> format_bpm("1.258700000000000045e+02")
    '125.87'
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Mapping, Sequence

from petl_core.music import key_name

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("ID", "wav", "duration", "label")
OPTIONS_FILE = "prepare_options.json"
FORMAT_VERSION = 1  # bump when the manifest content of a dataset changes for the same options
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".au", ".mp3", ".aiff", ".aif")


class DatasetError(RuntimeError):
    """The dataset folder or its annotations are missing or malformed (message names the file)."""


class OptionError(ValueError):
    """A preparation option outside its range (message names the option and the range)."""


class ManifestError(ValueError):
    """Rows that cannot be written as a manifest (message names the manifest and the row)."""


class BadAudioError(DatasetError):
    """One or more audio files are unusable; ``problems`` lists one line per file."""

    def __init__(self, problems: Sequence[str], context: str = ""):
        self.problems = list(problems)
        head = f"{context}: " if context else ""
        lines = "\n  ".join(self.problems)
        super().__init__(
            f"{head}{len(self.problems)} bad audio file(s) (fix or remove them, or pass "
            f"skip_bad_files=True to drop them):\n  {lines}"
        )


# --------------------------------------------------------------------------- writing / reading
_VARIABLE = re.compile(r"\$[\w.]")


def write_manifest(
    rows: Sequence[Mapping[str, object]],
    path: str,
    extra_columns: Sequence[str] | None = None,
) -> str:
    """Write ``rows`` (dicts) to the CSV ``path`` atomically (temporary file, then ``os.replace``).

    Columns are ``ID,wav,duration,label`` followed by ``extra_columns`` (default: the other keys
    of the first row, in order). Refuses an empty row list, a row missing a column (or holding
    ``None`` there), duplicate IDs, and values holding ``$name`` (SpeechBrain's CSV reader would
    treat them as variables). Returns ``path``.
    """
    path = os.path.abspath(path)
    rows = list(rows)
    if not rows:
        raise ManifestError(f"{path}: no rows to write (empty manifest refused)")
    if extra_columns is None:
        extra_columns = [k for k in rows[0] if k not in MANIFEST_COLUMNS]
    columns = list(MANIFEST_COLUMNS) + [c for c in extra_columns if c not in MANIFEST_COLUMNS]
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        missing = [c for c in columns if row.get(c) is None]
        if missing:
            raise ManifestError(
                f"{path}: row {i} (ID={row.get('ID')!r}) lacks column(s) {', '.join(missing)}"
            )
        key = str(row["ID"])
        if not key.strip():
            raise ManifestError(f"{path}: row {i} has an empty ID")
        if key in seen:
            raise ManifestError(f"{path}: duplicate ID {key!r} (rows {seen[key]} and {i})")
        seen[key] = i
        for c in columns:
            if _VARIABLE.search(str(row[c])):
                raise ManifestError(
                    f"{path}: row {i} (ID={key!r}) column {c} holds '$' followed by a name, "
                    f"which SpeechBrain's CSV reader would substitute: {row[c]!r}"
                )
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".csv", dir=folder)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row[c]) for c in columns])
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _cell(value: object) -> str:
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def read_manifest(path: str) -> list[dict[str, str]]:
    """Rows of a manifest as dicts of strings (``duration`` stays a string)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def check_manifest(path: str, encode: Callable[[str], object] | None = None, check_audio: bool = False,
                   max_listed: int = 10) -> int:
    """Check a manifest before training: readable, required columns, rows, unique IDs, (with
    ``encode``) labels the task knows, and (``check_audio``) that every audio file opens. Raises one
    :class:`ManifestError` listing every problem (up to ``max_listed``); returns the number of rows.
    """
    if not os.path.isfile(path):
        raise ManifestError(f"{path}: manifest not found (run the recipe's prepare step, or fix the path)")
    with open(path, "rb") as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ManifestError(f"{path}: line {line}: not UTF-8 text (byte {data[exc.start]:#04x}: {exc.reason}); save "
                            "the manifest as UTF-8 (a file name that is not UTF-8: rename the file)") from None
    if data[:3] == b"\xef\xbb\xbf":  # SpeechBrain's CSV reader would see a column '\ufeffID'
        raise ManifestError(f"{path}: starts with a UTF-8 byte-order mark (saved by a spreadsheet?); save it as "
                            "plain UTF-8 CSV, e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' " + path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path}: missing column(s) {', '.join(missing)} "
                                f"(a manifest has the header {','.join(MANIFEST_COLUMNS)})")
        rows = list(reader)
    if not rows:
        raise ManifestError(f"{path}: empty manifest (no rows)")
    problems, seen = [], set()
    for i, row in enumerate(rows, start=2):  # line numbers, after the header
        if row["ID"] in seen:
            problems.append(f"line {i}: duplicate ID {row['ID']!r}")
        seen.add(row["ID"])
        problems += _check_duration(row, i)
        if encode is not None:
            try:
                encode(row["label"] or "")
            except (ValueError, KeyError) as exc:
                problems.append(f"line {i} (ID={row['ID']!r}): {exc}")
    if check_audio:
        problems += validate_audio(rows)
    if problems:
        more = f"\n  ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        raise ManifestError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:max_listed]) + more)
    return len(rows)


def _check_duration(row: Mapping[str, str], line: int) -> list[str]:
    """``duration`` must be a positive number of seconds (crops and windows are cut from it)."""
    text = (row.get("duration") or "").strip()
    try:
        value = float(text)
    except ValueError:
        return [f"line {line} (ID={row['ID']!r}): duration {text!r} is not a number of seconds"]
    if not value > 0 or value == float("inf"):
        return [f"line {line} (ID={row['ID']!r}): duration {text!r} must be a positive, finite number of seconds"]
    return []


def write_json_atomic(obj: object, path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return path


def write_lines_atomic(lines: Iterable[str], path: str) -> str:
    """Write a small text file (e.g. a tag vocabulary) atomically, one item per line."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".txt", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(f"{line}\n")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- audio validation
def _probe(path: str, check_samples: bool) -> tuple[float | None, str | None]:
    from lobes.audio import AudioError, audio_info, load_audio

    try:
        info = audio_info(path)
        if info.frames <= 0 or info.duration <= 0:
            raise AudioError(f"{path}: zero-length audio")
        if check_samples:
            load_audio(path)
        return float(info.duration), None
    except AudioError as exc:
        return None, str(exc)


def probe_audio(
    paths: Iterable[str], check_samples: bool = False, num_workers: int = 8
) -> tuple[dict[str, float], dict[str, str]]:
    """Durations of the good files and a problem line for each bad one (keys: paths)."""
    unique = list(dict.fromkeys(paths))
    if num_workers > 1 and len(unique) > 64:
        with ThreadPoolExecutor(num_workers) as pool:
            results = list(pool.map(lambda p: _probe(p, check_samples), unique))
    else:
        results = [_probe(p, check_samples) for p in unique]
    durations, problems = {}, {}
    for p, (dur, err) in zip(unique, results):
        if err is None:
            durations[p] = dur
        else:
            problems[p] = err
    return durations, problems


def validate_audio(
    rows: Iterable[Mapping[str, object]], check_samples: bool = False, num_workers: int = 8
) -> list[str]:
    """Check the ``wav`` file of every row; return one line per bad file (all of them).

    Detects missing, empty (0 bytes), unreadable / corrupt-header and zero-length files; with
    ``check_samples=True`` also decodes each file and reports NaN/inf samples (slow).
    """
    _, problems = probe_audio((str(r["wav"]) for r in rows), check_samples, num_workers)
    return list(problems.values())


def finalize_rows(
    rows: Sequence[dict],
    skip_bad_files: bool = False,
    check_samples: bool = False,
    context: str = "",
    num_workers: int = 8,
) -> list[dict]:
    """Validate the audio of ``rows`` and set each row's ``duration``.

    Bad files raise one :class:`BadAudioError` listing them all, or, with
    ``skip_bad_files=True``, are dropped with one warning each.
    """
    durations, problems = probe_audio((r["wav"] for r in rows), check_samples, num_workers)
    if problems and not skip_bad_files:
        raise BadAudioError(sorted(problems.values()), context)
    out = []
    for row in rows:
        if row["wav"] in problems:
            logger.warning("%sskipping bad file: %s", f"{context}: " if context else "",
                           problems[row["wav"]])
            continue
        out.append({**row, "duration": durations[row["wav"]]})
    return out


def finalize_splits(
    split_rows: Mapping[str, Sequence[dict]],
    skip_bad_files: bool = False,
    check_samples: bool = False,
    context: str = "",
    num_workers: int = 8,
) -> dict[str, list[dict]]:
    """:func:`finalize_rows` over all splits at once (one error lists every bad file)."""
    all_rows = [r for rows in split_rows.values() for r in rows]
    durations, problems = probe_audio((r["wav"] for r in all_rows), check_samples, num_workers)
    if problems and not skip_bad_files:
        raise BadAudioError(sorted(problems.values()), context)
    for p in sorted(problems):
        logger.warning("%sskipping bad file: %s", f"{context}: " if context else "", problems[p])
    return {
        split: [{**r, "duration": durations[r["wav"]]} for r in rows if r["wav"] not in problems]
        for split, rows in split_rows.items()
    }


# --------------------------------------------------------------------------- run-once logic
def manifest_paths(save_folder: str, splits: Sequence[str]) -> dict[str, str]:
    return {s: os.path.join(os.path.abspath(save_folder), f"{s}.csv") for s in splits}


def _normalise_options(options: Mapping[str, object]) -> dict:
    return json.loads(json.dumps({**options, "format_version": FORMAT_VERSION}, sort_keys=True,
                                 default=str))


def prepare_once(
    save_folder: str,
    splits: Sequence[str],
    options: Mapping[str, object],
    build: Callable[[], Mapping[str, Sequence[Mapping[str, object]]]],
    inputs: Sequence[str] = (),
) -> dict[str, str]:
    """Write ``save_folder/<split>.csv`` for every split from ``build()`` unless already done.

    ``build`` returns ``{split: rows}``. When every manifest exists, ``prepare_options.json``
    in ``save_folder`` holds the same ``options`` and every file of ``inputs`` (what the
    manifests rely on, e.g. generated data) exists, nothing is rebuilt. The options file is
    written last, so an interrupted preparation is redone. (Under DDP call this on the main
    process only, e.g. through ``speechbrain.utils.distributed.run_on_main``.)
    """
    paths = manifest_paths(save_folder, splits)
    options_path = os.path.join(os.path.abspath(save_folder), OPTIONS_FILE)
    wanted = _normalise_options(options)
    if all(os.path.isfile(p) for p in [*paths.values(), *inputs]) and os.path.isfile(options_path):
        try:
            with open(options_path, encoding="utf-8") as f:
                stored = json.load(f)
        except (OSError, ValueError):
            stored = None
        if stored == wanted:
            logger.info("manifests in %s already prepared with the same options; skipping",
                        save_folder)
            return paths
    if os.path.exists(options_path):
        os.remove(options_path)
    split_rows = build()
    missing = [s for s in splits if s not in split_rows]
    if missing:
        raise ManifestError(f"preparation for {save_folder} produced no split(s) {missing}")
    for split in splits:
        write_manifest(split_rows[split], paths[split])
        logger.info("wrote %s (%d rows)", paths[split], len(split_rows[split]))
    write_json_atomic(wanted, options_path)
    return paths


def check_disjoint(split_rows: Mapping[str, Sequence[Mapping[str, object]]], context: str = ""):
    """Raise if an audio file appears in two splits."""
    owner: dict[str, str] = {}
    for split, rows in split_rows.items():
        for r in rows:
            w = str(r["wav"])
            if w in owner and owner[w] != split:
                raise DatasetError(f"{context}: {w} is in both {owner[w]} and {split} splits")
            owner[w] = split


# --------------------------------------------------------------------------- files and layout
def require_file(path: str, what: str, layout: str = "") -> str:
    """Return ``path`` if it is a file, else raise :class:`DatasetError` naming it."""
    if not os.path.isfile(path):
        hint = f" (expected layout: {layout})" if layout else ""
        raise DatasetError(f"{what} not found: {path}{hint}")
    return path


def read_table(path: str, required: Iterable[str], what: str, layout: str = "") -> list[dict[str, str]]:
    """Rows of a CSV annotation file that must exist and hold the ``required`` columns."""
    require_file(path, what, layout)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(required) - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
        return list(reader)


class CrossValidation:
    """k-fold cross-validation: ``test_fold`` is the test set, ``valid_fold`` the validation set,
    the other folds the training set.

    ``valid_fold``: ``"next"`` (the fold after the test fold, cyclically), ``"previous"`` (the fold
    before it: PETL_AST's ESC-50 roles, train = the three folds after the test fold), a fold
    number, or ``"test"``: PETL_AST's UrbanSound8K protocol, train on every other fold and validate
    on the test fold itself (checkpoint selection then sees the test fold: an optimistic figure,
    kept only to compare with that paper).

    Example:
        >>> cv = CrossValidation("ESC-50", test_fold=5, num_folds=5)
        >>> cv.valid_fold, cv.splits("5", "meta.csv:2"), cv.splits("1", "meta.csv:3"), cv.splits("3", "meta.csv:4")
        (1, ['test'], ['valid'], ['train'])
        >>> CrossValidation("ESC-50", test_fold=5, num_folds=5, valid_fold="previous").valid_fold
        4
        >>> CrossValidation("US8K", test_fold=10, num_folds=10, valid_fold="test").splits("10", "meta.csv:2")
        ['valid', 'test']
    """

    ROLES = ("next", "previous", "test")

    def __init__(self, dataset: str, test_fold: int, num_folds: int, valid_fold: str | int = "next") -> None:
        if not 1 <= int(test_fold) <= num_folds:
            raise ValueError(f"{dataset} test_fold must be 1..{num_folds}, got {test_fold}")
        self.test_fold = int(test_fold)
        if valid_fold == "next":
            self.valid_fold = self.test_fold % num_folds + 1
        elif valid_fold == "previous":
            self.valid_fold = (self.test_fold - 2) % num_folds + 1
        elif valid_fold == "test":
            self.valid_fold = self.test_fold
        elif isinstance(valid_fold, int) and not isinstance(valid_fold, bool) and 1 <= valid_fold <= num_folds \
                and valid_fold != self.test_fold:
            self.valid_fold = valid_fold
        else:
            raise ValueError(f"{dataset} valid_fold must be one of {', '.join(self.ROLES)} or a fold number "
                             f"1..{num_folds} other than the test fold ({self.test_fold}); got {valid_fold!r}")
        self.valid_is_test = self.valid_fold == self.test_fold

    def splits(self, fold: str, where: str) -> list[str]:
        """The splits of an item in ``fold`` (text from an annotation file, ``where`` names it)."""
        try:
            number = int(fold)
        except ValueError:
            raise DatasetError(f"{where}: bad fold {fold!r}") from None
        if number == self.test_fold:
            return ["valid", "test"] if self.valid_is_test else ["test"]
        return ["valid"] if number == self.valid_fold else ["train"]

    def check_disjoint(self, split_rows: Mapping[str, Sequence[Mapping[str, object]]], context: str) -> None:
        """:func:`check_disjoint` over the splits that must not share files (not valid/test when the
        protocol validates on the test fold)."""
        check_disjoint({s: r for s, r in split_rows.items() if not (self.valid_is_test and s == "valid")}, context)


def first_existing(candidates: Iterable[str], isdir: bool = False) -> str | None:
    for c in candidates:
        if (os.path.isdir(c) if isdir else os.path.exists(c)):
            return c
    return None


def resolve_audio(path: str, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> str:
    """``path`` if it exists, else the same stem with another audio extension that exists
    (e.g. a ``.wav`` converted from the official ``.mp3``), else ``path`` unchanged (so that the
    validation pass reports it as missing)."""
    if os.path.exists(path):
        return path
    stem = os.path.splitext(path)[0]
    for ext in extensions:
        if os.path.exists(stem + ext):
            return stem + ext
    return path


def read_lines(path: str) -> list[str]:
    """Non-empty stripped lines of a text file (handles CRLF and a BOM)."""
    with open(path, encoding="utf-8-sig") as f:
        return [line.strip() for line in f if line.strip()]


def download_and_extract(
    url: str,
    dest: str,
    md5: str | None = None,
    sha256: str | None = None,
    name: str | None = None,
    layout: str = "",
) -> str:
    """Download ``url`` into ``dest``, verify a published checksum, and unpack archives there.

    Fails with a clear :class:`DatasetError` when offline or when the checksum differs.
    Returns the downloaded file's path.
    """
    name = name or os.path.basename(url)
    os.makedirs(dest, exist_ok=True)
    target = os.path.join(dest, os.path.basename(url.split("?")[0]) or "download")
    hint = f"put the dataset in {dest}" + (f" (layout: {layout})" if layout else "")
    if not os.path.isfile(target):
        part = target + ".part"
        try:
            logger.info("downloading %s from %s", name, url)
            with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
                shutil.copyfileobj(resp, out, length=1 << 20)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if os.path.exists(part):
                os.remove(part)
            raise DatasetError(f"cannot download {name} from {url} ({exc}); {hint}") from None
        os.replace(part, target)
    for algo, expected in (("md5", md5), ("sha256", sha256)):
        if expected:
            digest = _file_hash(target, algo)
            if digest.lower() != expected.lower():
                raise DatasetError(
                    f"{target}: {algo} {digest} differs from the published {expected}; "
                    f"delete it and retry, or {hint}"
                )
    if target.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        shutil.unpack_archive(target, dest)
    return target


def _file_hash(path: str, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_dataset(
    data_folder: str,
    marker: str,
    name: str,
    layout: str,
    download: bool = False,
    urls: Sequence[tuple[str, str | None]] = (),
) -> None:
    """Make sure ``data_folder/marker`` exists, downloading ``urls`` ``[(url, md5)]`` if allowed.

    Without ``download`` (or without known URLs) a missing dataset raises a
    :class:`DatasetError` that names the expected layout.
    """
    if os.path.exists(os.path.join(data_folder, marker)):
        return
    if download and urls:
        for url, md5 in urls:
            download_and_extract(url, data_folder, md5=md5, name=name, layout=layout)
        if os.path.exists(os.path.join(data_folder, marker)):
            return
    how = "" if download else " (pass download=True to fetch it)" if urls else ""
    raise DatasetError(
        f"{name} not found: {os.path.join(data_folder, marker)} is missing{how}; "
        f"put the dataset in {data_folder} (layout: {layout})"
    )


# --------------------------------------------------------------------------- labels
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(
    r"^\s*([A-Ga-g])\s*([#b♯♭]?)\s*(major|minor|maj|min)?\s*$", flags=re.IGNORECASE
)


def normalize_key(text: str) -> str | None:
    """A mir_eval key string (``"D# minor"``) from a spelling such as ``"Eb minor"``.

    Flats become sharps (enharmonic: ``Cb`` → ``B``, ``E#`` → ``F``); a bare tonic means major.
    Returns ``None`` for anything else (unknown ``-``/``-1``, ambiguous ``"A minor / C major"``,
    modal names), which callers exclude with a log line.
    """
    m = _KEY_RE.match(str(text))
    if not m:
        return None
    letter, accidental, mode = m.groups()
    pc = _NATURAL[letter.upper()]
    if accidental in ("#", "♯"):
        pc += 1
    elif accidental in ("b", "♭"):
        pc -= 1
    mode = (mode or "major").lower()
    mode = "minor" if mode.startswith("min") else "major"
    return key_name(pc, mode)


def format_bpm(value: object) -> str | None:
    """BPM as a float string (``"125.87"``, ``"127.0"``); ``None`` if not a positive number."""
    try:
        bpm = float(str(value).strip().split()[0])
    except (ValueError, IndexError):
        return None
    if not (bpm > 0) or bpm == float("inf"):
        return None
    return repr(round(bpm, 4))

"""Tiny datasets in each dataset's OFFICIAL layout, for recipe tests (shared; import as a module).

Every builder ``make_<dataset>(root, ...)`` writes short synthetic clips (a tone per label plus
noise; ``.wav`` standing in for the official ``.mp3`` where the dataset ships mp3) with the real
metadata/split/annotation file formats under ``root`` and returns the folder to give as
``data_folder``. Every class/tag of the valid and test splits also occurs in the training split,
so classification and tagging manifests encode. ``RECIPE_DATA`` maps each recipe
(``<Dataset>/<task>``) to its builder.

    >>> import tempfile, os
    >>> root = make_gtzan(tempfile.mkdtemp())
    >>> sorted(os.listdir(root))
    ['genres', 'gtzan_key', 'gtzan_split', 'gtzan_tempo_beat']
"""
from __future__ import annotations

import os
import zlib

import numpy as np
import soundfile as sf

SECONDS = 1.0


def write_wav(path, seconds: float = SECONDS, sr: int = 16000, freq: float = 440.0) -> str:
    """A deterministic tone at ``freq`` Hz plus a little noise (seeded by the file name)."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(os.path.basename(str(path)).encode()))
    t = np.arange(int(seconds * sr)) / sr
    wav = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(len(t))
    sf.write(str(path), wav.astype("float32"), sr)
    return str(path)


def _freq(label: str) -> float:
    return 200.0 + (zlib.crc32(label.encode()) % 40) * 20.0


# ------------------------------------------------------------------------- AST datasets
def make_esc50(root, classes=(("dog", 0), ("rain", 10)), per_fold: int = 1) -> str:
    """``ESC-50-master/{meta/esc50.csv, audio/<fold>-<src>-<take>-<target>.wav}``, 5 folds."""
    base = os.path.join(str(root), "ESC-50-master")
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        for name, target in classes:
            for i in range(per_fold):
                src = 100000 + fold * 100 + target * 10 + i
                fname = f"{fold}-{src}-A-{target}.wav"
                lines.append(f"{fname},{fold},{target},{name},{name == 'dog'},{src},A")
                write_wav(os.path.join(base, "audio", fname), sr=44100 // 4, freq=_freq(name))
    os.makedirs(os.path.join(base, "meta"), exist_ok=True)
    with open(os.path.join(base, "meta", "esc50.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(root)


def make_urbansound8k(root, classes=(("dog_bark", 3), ("siren", 8)), per_fold: int = 1) -> str:
    """``UrbanSound8K/{metadata/UrbanSound8K.csv, audio/fold<k>/<fsID>-<classID>-0-<i>.wav}``, 10 folds."""
    base = os.path.join(str(root), "UrbanSound8K")
    lines = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for fold in range(1, 11):
        for name, cid in classes:
            for i in range(per_fold):
                fs_id = 100000 + fold * 100 + cid
                fname = f"{fs_id}-{cid}-0-{i}.wav"
                lines.append(f"{fname},{fs_id},0.0,{SECONDS},1,{fold},{cid},{name}")
                write_wav(os.path.join(base, "audio", f"fold{fold}", fname), sr=22050, freq=_freq(name))
    os.makedirs(os.path.join(base, "metadata"), exist_ok=True)
    with open(os.path.join(base, "metadata", "UrbanSound8K.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(root)


def make_speech_commands(root, words=("yes", "no"), n_train: int = 3) -> str:
    """``<word>/<speaker>_nohash_<n>.wav`` + ``validation_list.txt``/``testing_list.txt`` + noise folder."""
    root = str(root)
    valid, test = [], []
    for w, word in enumerate(words):
        for i in range(n_train + 2):
            rel = f"{word}/{w:02d}{i:06x}_nohash_0.wav"
            write_wav(os.path.join(root, rel), sr=16000, freq=_freq(word))
            if i == n_train:
                valid.append(rel)
            elif i == n_train + 1:
                test.append(rel)
    write_wav(os.path.join(root, "_background_noise_", "white_noise.wav"), seconds=2.0)
    for name, rels in (("validation_list.txt", valid), ("testing_list.txt", test)):
        with open(os.path.join(root, name), "w") as f:
            f.write("".join(r + "\n" for r in rels))
    return root


FSC_INTENTS = [("Turn on the lights", "activate", "lights", "none"),
               ("Decrease the volume", "decrease", "volume", "none")]


def make_fluent_speech_commands(root, n_train: int = 3) -> str:
    """``fluent_speech_commands_dataset/{data/<split>_data.csv, wavs/speakers/<spk>/<uuid>.wav}``."""
    base = os.path.join(str(root), "fluent_speech_commands_dataset")
    header = ",path,speakerId,transcription,action,object,location"
    for split, n in (("train", n_train), ("valid", 1), ("test", 1)):
        lines, k = [header], 0
        for j, (text, action, obj, loc) in enumerate(FSC_INTENTS):
            for i in range(n):
                spk = f"{split}Spk{j}"
                rel = f"wavs/speakers/{spk}/{split}-{j}-{i}-0000-11e9.wav"
                lines.append(f"{k},{rel},{spk},{text},{action},{obj},{loc}")
                write_wav(os.path.join(base, rel), sr=16000, freq=_freq(action + obj))
                k += 1
        os.makedirs(os.path.join(base, "data"), exist_ok=True)
        with open(os.path.join(base, "data", f"{split}_data.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return str(root)


# ------------------------------------------------------------------------- music datasets
MTAT_TAGS = ["guitar", "classical", "rock"]


def make_magnatagatune(root, n: int = 12) -> str:
    """``annotations_final.csv`` (quoted TSV) + ``mp3/<d>/<name>.wav`` + ``split/{train,valid,test}.npy``
    + ``split/top50_tags.txt``; clips 0-2 validate, 3-5 test, the rest train (every tag in every split)."""
    root = str(root)
    q = lambda v: f'"{v}"'  # noqa: E731 - the official file quotes every field
    lines = ["\t".join(q(c) for c in ["clip_id", *MTAT_TAGS, "mp3_path"])]
    clips = []
    for i in range(n):
        on = {MTAT_TAGS[i % 3]} | ({MTAT_TAGS[(i + 1) % 3]} if i % 2 else set())
        path = f"{i % 16:x}/artist-album-{i:02d}-track-0-29.mp3"
        lines.append("\t".join([q(i), *(q(int(t in on)) for t in MTAT_TAGS), q(path)]))
        write_wav(os.path.join(root, "mp3", path.replace(".mp3", ".wav")), sr=16000, freq=_freq(sorted(on)[0]))
        clips.append(f"{i}\t{path}")
    with open(os.path.join(root, "annotations_final.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    split = os.path.join(root, "split")
    os.makedirs(split, exist_ok=True)
    for name, items in (("valid", clips[:3]), ("test", clips[3:6]), ("train", clips[6:])):
        np.save(os.path.join(split, f"{name}.npy"), np.array(items))
    with open(os.path.join(split, "top50_tags.txt"), "w") as f:
        f.write("".join(t + "\n" for t in MTAT_TAGS))
    return root


MTG_TAGS = ["genre---rock", "genre---pop", "instrument---voice"]


def make_mtg_jamendo(root, per_split=(6, 3, 3)) -> str:
    """``data/splits/split-0/autotagging_top50tags-{train,validation,test}.tsv`` (CRLF) + ``audio/NN/<id>.wav``."""
    root = str(root)
    split_dir = os.path.join(root, "data", "splits", "split-0")
    os.makedirs(split_dir, exist_ok=True)
    header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n"
    track = 200
    for name, n in zip(("train", "validation", "test"), per_split):
        text = header
        for i in range(n):
            track += 1
            tags = [MTG_TAGS[i % 3]] + ([MTG_TAGS[(i + 1) % 3]] if i % 2 else [])
            rel = f"{track % 100:02d}/{track}.mp3"
            text += f"track_{track:07d}\tartist_{i:06d}\talbum_{i:06d}\t{rel}\t{SECONDS}\t" + "\t".join(tags) + "\r\n"
            write_wav(os.path.join(root, "audio", rel.replace(".mp3", ".wav")), sr=16000, freq=_freq(tags[0]))
        with open(os.path.join(split_dir, f"autotagging_top50tags-{name}.tsv"), "wb") as f:
            f.write(text.encode())
    return root


GTZAN_SPLIT = {"train": [("blues", 0), ("blues", 1), ("pop", 0), ("pop", 1), ("jazz", 0), ("jazz", 1)],
               "valid": [("blues", 2), ("pop", 2)], "test": [("blues", 3), ("jazz", 2)]}


def make_gtzan(root, seconds: float = 2.0) -> str:
    """``genres/<g>/<g>.000xx.wav`` + ``gtzan_split/<split>_filtered.txt`` + gtzan_key labels
    (``gtzan_key/gtzan_key/genres/<g>/<stem>.lerch.txt``, 0 = A major ... 23 = G# minor) + tempo
    (``gtzan_tempo_beat/tempo/gtzan_<g>_000xx.bpm``)."""
    root = str(root)
    os.makedirs(os.path.join(root, "gtzan_split"), exist_ok=True)
    k = 0
    for split, items in GTZAN_SPLIT.items():
        rels = []
        for genre, i in items:
            stem = f"{genre}.{i:05d}"
            rel = f"{genre}/{stem}.wav"
            rels.append(rel)
            write_wav(os.path.join(root, "genres", rel), seconds=seconds, sr=22050, freq=_freq(genre))
            key_dir = os.path.join(root, "gtzan_key", "gtzan_key", "genres", genre)
            os.makedirs(key_dir, exist_ok=True)
            with open(os.path.join(key_dir, f"{stem}.lerch.txt"), "w") as f:
                f.write(str((k * 5) % 24))
            tempo_dir = os.path.join(root, "gtzan_tempo_beat", "tempo")
            os.makedirs(tempo_dir, exist_ok=True)
            with open(os.path.join(tempo_dir, f"gtzan_{genre}_{i:05d}.bpm"), "w") as f:
                f.write(f"{90.0 + 7 * k:.18e}\n")
            k += 1
        with open(os.path.join(root, "gtzan_split", f"{split}_filtered.txt"), "w") as f:
            f.write("".join(r + "\n" for r in rels))
    return root


GS_KEYS = ["C minor", "Ab major", "Db minor", "F# major", "A minor", "E major"]


def make_giantsteps_key(root, n_mtg: int = 10) -> str:
    """``giantsteps-mtg-key-dataset/{annotations/annotations.txt, audio/<id>.LOFI.wav}`` (train/valid)
    + ``giantsteps-key-dataset/{annotations/key/<id>.LOFI.key, audio/<id>.LOFI.wav}`` (test)."""
    root = str(root)
    mtg = os.path.join(root, "giantsteps-mtg-key-dataset")
    os.makedirs(os.path.join(mtg, "annotations"), exist_ok=True)
    lines = ["ID\tMANUAL KEY\tC"]
    for i in range(n_mtg):
        track = 5000 + i
        lines.append(f"{track}\t{GS_KEYS[i % len(GS_KEYS)]}\t2")
        write_wav(os.path.join(mtg, "audio", f"{track}.LOFI.wav"), sr=22050, freq=_freq(str(track)))
    with open(os.path.join(mtg, "annotations", "annotations.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    gs = os.path.join(root, "giantsteps-key-dataset")
    os.makedirs(os.path.join(gs, "annotations", "key"), exist_ok=True)
    for i, key in enumerate(GS_KEYS[:3]):
        track = 100000 + i
        with open(os.path.join(gs, "annotations", "key", f"{track}.LOFI.key"), "w") as f:
            f.write(key)
        write_wav(os.path.join(gs, "audio", f"{track}.LOFI.wav"), sr=22050, freq=_freq(str(track)))
    return root


def make_giantsteps_tempo(root, per_fold: int = 1) -> str:
    """``giantsteps-tempo-dataset/{annotations{,_v2}/tempo/<id>.LOFI.bpm, splits/foldNN.txt,
    audio/<id>.LOFI.wav}`` (10 folds: 1-6 train, 7-8 valid, 9-10 test by default)."""
    base = os.path.join(str(root), "giantsteps-tempo-dataset")
    for folder in ("annotations", "annotations_v2"):
        os.makedirs(os.path.join(base, folder, "tempo"), exist_ok=True)
    os.makedirs(os.path.join(base, "splits"), exist_ok=True)
    for fold in range(1, 11):
        tracks = [f"{1000000 + fold * 10 + i}" for i in range(per_fold)]
        for j, track in enumerate(tracks):
            bpm = 100.0 + 3 * fold + j
            for folder in ("annotations", "annotations_v2"):
                with open(os.path.join(base, folder, "tempo", f"{track}.LOFI.bpm"), "w") as f:
                    f.write(f"{bpm}")
            write_wav(os.path.join(base, "audio", f"{track}.LOFI.wav"), sr=22050, freq=_freq(track))
        with open(os.path.join(base, "splits", f"fold{fold:02d}.txt"), "w") as f:
            f.write("".join(f"{t}.LOFI.mp3\n" for t in tracks))
    return str(root)


def make_mtg_jamendo_subset(root, subset: str = "moodtheme", per_split=(6, 3, 3)) -> str:
    """``data/splits/split-0/autotagging_<subset>-{train,validation,test}.tsv`` (CRLF) + ``audio/NN/<id>.wav``,
    tags of the subset's category only."""
    category = {"genre": "genre---", "instrument": "instrument---", "moodtheme": "mood/theme---"}[subset]
    tags = [f"{category}{name}" for name in ("a", "b", "c")]
    root = str(root)
    split_dir = os.path.join(root, "data", "splits", "split-0")
    os.makedirs(split_dir, exist_ok=True)
    track = 300
    for name, n in zip(("train", "validation", "test"), per_split):
        text = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n"
        for i in range(n):
            track += 1
            on = [tags[i % 3]] + ([tags[(i + 1) % 3]] if i % 2 else [])
            rel = f"{track % 100:02d}/{track}.mp3"
            text += f"track_{track:07d}\tartist_{i:06d}\talbum_{i:06d}\t{rel}\t{SECONDS}\t" + "\t".join(on) + "\r\n"
            write_wav(os.path.join(root, "audio", rel.replace(".mp3", ".wav")), sr=16000, freq=_freq(on[0]))
        with open(os.path.join(split_dir, f"autotagging_{subset}-{name}.tsv"), "wb") as f:
            f.write(text.encode())
    return root


NSYNTH_NOTES = {"train": [("bass", 40), ("bass", 45), ("guitar", 60), ("guitar", 64), ("vocal", 72), ("vocal", 76)],
                "valid": [("bass", 40), ("guitar", 64), ("vocal", 72)],
                "test": [("bass", 45), ("guitar", 60), ("vocal", 76)]}


def make_nsynth(root) -> str:
    """``nsynth-<split>/{examples.json, audio/<note_str>.wav}`` (a tone at each note's pitch)."""
    import json

    root = str(root)
    for split, notes in NSYNTH_NOTES.items():
        examples = {}
        for i, (family, pitch) in enumerate(notes):
            instrument = f"{family}_acoustic_{i + (10 if split != 'train' else 0):03d}"
            note = f"{instrument}-{pitch:03d}-100"
            examples[note] = {"note_str": note, "pitch": pitch, "velocity": 100, "instrument_str": instrument,
                              "instrument_family_str": family, "instrument_source_str": "acoustic",
                              "sample_rate": 16000, "qualities_str": []}
            write_wav(os.path.join(root, f"nsynth-{split}", "audio", f"{note}.wav"), sr=16000,
                      freq=440.0 * 2 ** ((pitch - 69) / 12))
        with open(os.path.join(root, f"nsynth-{split}", "examples.json"), "w") as f:
            json.dump(examples, f)
    return root


VOCALSET_TECHNIQUES = ("belt", "breathy", "vibrato", "forte")  # forte: a singer-task-only folder


def make_vocalset(root, singers=("f1", "f3", "m1", "f2", "m3"), takes: int = 2) -> str:
    """``FULL/<singer>/<context>/<technique>/<singer>_<context>_<technique>_<vowel>.wav`` (f2, m3: test
    singers of the technique task)."""
    root = str(root)
    for singer in singers:
        for context in ("arpeggios", "scales"):
            for technique in VOCALSET_TECHNIQUES:
                for vowel in "aeiou"[:takes]:
                    name = f"{singer}_{context}_{technique}_{vowel}.wav"
                    write_wav(os.path.join(root, "FULL", singer, context, technique, name), sr=16000,
                              freq=_freq(singer + technique))
    return root


EMOMUSIC_SONGS = [("The Beatles", "development"), ("Miles Davis", "development"), ("Nina Simone", "development"),
                  ("Bob Marley", "development"), ("Daft Punk", "development"), ("Kraftwerk", "development"),
                  ("Radiohead", "development"), ("Queen", "evaluation"), ("Muse", "evaluation"),
                  ("Nirvana", "evaluation")]  # Nina Simone, Daft Punk hash to valid


def make_emomusic(root) -> str:
    """``annotations/{songs_info,static_annotations}.csv`` (cells padded with spaces, as published) +
    ``clips_45seconds/<song_id>.wav``."""
    root = str(root)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    info = ["song_id,file_name,Artist,Song title,start of the segment (min.sec),end of the segment (min.sec),"
            "Genre,Mediaeval 2013 set"]
    static = ["song_id, mean_arousal, std_arousal, mean_valence, std_valence"]
    for i, (artist, subset) in enumerate(EMOMUSIC_SONGS):
        song = 2 + 3 * i
        info.append(f"{song},{song}.mp3,{artist} ,Song {i},0.30,1.15,Rock,{subset}")
        static.append(f"{song}, {3 + 0.4 * i:.1f}, 0.9, {6 - 0.3 * i:.1f}, 1.1")
        write_wav(os.path.join(root, "clips_45seconds", f"{song}.wav"), sr=16000, freq=200.0 + 40 * i)
    for name, lines in (("songs_info.csv", info), ("static_annotations.csv", static)):
        with open(os.path.join(root, "annotations", name), "w") as f:
            f.write("\n".join(lines) + "\n")
    return root


#: recipe (``<Dataset>/<task>`` under recipes/) -> fixture builder
RECIPE_DATA = {
    "ESC50/classification": make_esc50,
    "UrbanSound8K/classification": make_urbansound8k,
    "SpeechCommands/classification": make_speech_commands,
    "FluentSpeechCommands/classification": make_fluent_speech_commands,
    "MagnaTagATune/tagging": make_magnatagatune,
    "MTGJamendo/tagging": make_mtg_jamendo,
    "GTZAN/genre": make_gtzan,
    "GTZAN/key": make_gtzan,
    "GTZAN/tempo": make_gtzan,
    "GiantSteps/key": make_giantsteps_key,
    "GiantSteps/tempo": make_giantsteps_tempo,
}

#: seed 003's suite, ``<recipe folder>/<hparams file stem>`` -> fixture builder
SUITE_DATA = {
    "NSynth/classification/instrument": make_nsynth,
    "NSynth/classification/pitch": make_nsynth,
    "VocalSet/classification/singer": make_vocalset,
    "VocalSet/classification/technique": make_vocalset,
    "Emomusic/regression/default": make_emomusic,
    "MTGJamendo/tagging/moodtheme": lambda root: make_mtg_jamendo_subset(root, "moodtheme"),
    "MTGJamendo/tagging/instrument": lambda root: make_mtg_jamendo_subset(root, "instrument"),
    "MTGJamendo/tagging/genre": lambda root: make_mtg_jamendo_subset(root, "genre"),
}

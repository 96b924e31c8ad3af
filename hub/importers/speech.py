"""Speech corpus formats: Kaldi data dirs and Common Voice releases.

- `kaldi`: `wav.scp` (utterance or recording id -> audio file path), `text` (utterance id ->
  transcript), `utt2spk`, optionally `segments` (utterance -> recording, start, end: the
  utterance is cut out of the recording) and `spk2gender`. A folder of `train/`, `dev/`,
  `test/` data dirs keeps them as the official splits. Paths relative to the corpus folder.
- `commonvoice`: `train.tsv`, `dev.tsv`, `test.tsv` (official splits) or `validated.tsv`, with
  `client_id`, `path` (a file in `clips/`), `sentence`, and `locale`/`gender` when present.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from hub.errors import SourceError
from hub.importers.base import Draft, Media, NotThisFormat, audio_info, read_table_file, safe_id, split_name
from hub.importers.columns import speech_record
from hub.records.speech import SPEECH

__all__ = ["commonvoice", "kaldi"]

_KALDI = ("wav.scp", "text", "utt2spk")


def _kaldi_map(path: Path, *, required: bool = True) -> dict[str, str]:
    """A Kaldi table file: the first token of each line -> the rest of the line."""
    if not path.is_file():
        if required:
            raise SourceError(f"{path} is missing", path=str(path))
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out


def _kaldi_dirs(path: Path) -> list[tuple[str | None, Path]]:
    if all((path / f).is_file() for f in _KALDI):
        return [(None, path)]
    found = [(split_name(d.name), d) for d in sorted(path.iterdir()) if d.is_dir() and split_name(d.name) and all((d / f).is_file() for f in _KALDI)] if path.is_dir() else []
    return found


def _cut(file: Path, start: float, end: float) -> tuple[bytes, int, float]:
    """The segment [start, end) seconds of an audio file, as WAV bytes (PCM 16)."""
    import soundfile

    with soundfile.SoundFile(str(file)) as f:
        rate = f.samplerate
        f.seek(int(round(start * rate)))
        samples = f.read(max(0, int(round((end - start) * rate))), dtype="int16")
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), rate, len(samples) / rate


def kaldi(path: Path, *, fmt: str = "kaldi", language: str | None = None, **_: Any) -> Draft:
    """A Kaldi data dir, or a folder of train/dev/test data dirs (the official splits)."""
    dirs = _kaldi_dirs(path)
    if not dirs:
        raise NotThisFormat(fmt, f"{', '.join(_KALDI)} in the folder or in train/, dev/, test/ folders", path)
    records = []
    segmented = False
    for split, folder in dirs:
        wavs, texts, spk = (_kaldi_map(folder / f) for f in _KALDI)
        genders = _kaldi_map(folder / "spk2gender", required=False)
        segments = _kaldi_map(folder / "segments", required=False)
        segmented |= bool(segments)
        for utt in sorted(texts):
            record: dict[str, Any] = {"id": safe_id(utt), "transcript": texts[utt], "speaker": spk.get(utt, utt)}
            if language:
                record["language"] = language
            gender = {"f": "female", "m": "male"}.get(genders.get(record["speaker"], "").lower())
            if gender:
                record["speaker_gender"] = gender
            if utt in segments:
                recording, start, end = (segments[utt].split() + ["", "", ""])[:3]
                if recording not in wavs:
                    raise SourceError(f"{folder / 'segments'}: utterance {utt!r} names recording {recording!r}, which wav.scp does not list", path=str(folder))
                data, rate, duration = _cut(_audio_path(path, folder, wavs[recording]), float(start), float(end))
                record["audio"] = Media(f"segments/{split or 'all'}/{safe_id(utt)}.wav", data=data)
                record["sample_rate"], record["duration"] = rate, duration
            elif utt in wavs:
                file = _audio_path(path, folder, wavs[utt])
                record["audio"] = Media(file.relative_to(path).as_posix() if file.is_relative_to(path) else f"audio/{file.name}", source=file)
                record["sample_rate"], record["duration"] = audio_info(file)
            else:
                raise SourceError(f"{folder / 'wav.scp'} has no audio for utterance {utt!r} (in text)", path=str(folder))
            if split:
                record["split"] = split
            records.append(record)
    mapping = {"id": "the utterance id", "audio": "wav.scp" + (" and segments (cut out of the recording)" if segmented else ""), "transcript": "text",
               "speaker": "utt2spk", "sample_rate": "the audio's header", "duration": "the audio's header" if not segmented else "segments",
               "language": f"--language {language}" if language else "none (give --language)"}
    if any(split for split, _ in dirs):
        mapping["split"] = "the data dir (train/, dev/, test/)"
    return Draft(fmt, SPEECH.modality, SPEECH.name, records, mapping, splits=any(split for split, _ in dirs), languages=[language] if language else [],
                 tasks=["automatic-speech-recognition"])


def _audio_path(corpus: Path, folder: Path, value: str) -> Path:
    if value.endswith("|"):
        raise SourceError(f"wav.scp entry {value!r} is a command pipe: hub import reads audio files only", path=str(folder),
                          hint="Write the audio to files first (e.g. `wav-copy scp:wav.scp ark,scp:out.ark,out.scp`, or sox), then list their paths.")
    for base in (corpus, folder):
        candidate = (base / value).resolve()
        if candidate.is_file():
            return candidate
    raise SourceError(f"wav.scp names {value!r}, which is not a file (looked in {corpus} and {folder})", path=str(folder))


_CV_SPLITS = ("train.tsv", "dev.tsv", "test.tsv")


def commonvoice(path: Path, *, fmt: str = "commonvoice", language: str | None = None, **_: Any) -> Draft:
    """A Common Voice release folder: TSVs (train/dev/test, or validated) and clips/."""
    tsvs = [path / name for name in _CV_SPLITS if (path / name).is_file()] if path.is_dir() else []
    if not tsvs and path.is_dir() and (path / "validated.tsv").is_file():
        tsvs = [path / "validated.tsv"]
    if not tsvs or not (path / "clips").is_dir():
        raise NotThisFormat(fmt, "train.tsv, dev.tsv, test.tsv (or validated.tsv) and a clips/ folder", path)
    columns = {"transcript": "sentence", "speaker": "client_id", "language": "locale", "speaker_gender": "gender"}
    records, seen, located = [], set(), False
    for tsv in tsvs:
        split = split_name(tsv.stem) if tsv.name != "validated.tsv" else None
        for row in read_table_file(tsv):
            clip = str(row.get("path") or "")
            if not clip or clip in seen:
                continue
            seen.add(clip)
            file = path / "clips" / clip
            record: dict[str, Any] = {"id": safe_id(Path(clip).stem), "audio": Media(f"clips/{clip}", source=file) if file.is_file() else f"raw/clips/{clip}"}
            record.update(speech_record(row, {k: (v if v in row else None) for k, v in columns.items()}, language=language))
            located |= bool(row.get("locale"))
            if file.is_file():
                record["sample_rate"], record["duration"] = audio_info(file)
            if split:
                record["split"] = split
            for extra in ("age", "accents", "up_votes", "down_votes"):
                if row.get(extra) not in (None, ""):
                    record[extra] = row[extra]
            records.append(record)
    extras = sorted({k for r in records for k in r} & {"age", "accents", "up_votes", "down_votes"})
    mapping = {"id": "path without extension", "audio": "clips/<path>", "transcript": "sentence", "speaker": "client_id",
               "language": "locale" if located else (f"--language {language}" if language else "none (give --language)"),
               "speaker_gender": "gender", "sample_rate": "the audio's header", "duration": "the audio's header"}
    splits = any(r.get("split") for r in records)
    if splits:
        mapping["split"] = "the TSV file (train.tsv, dev.tsv, test.tsv)"
    renames = {f: c for f, c in columns.items() if located or f != "language"}
    return Draft(fmt, SPEECH.modality, SPEECH.name, records, mapping, splits=splits, extras=extras, renames=renames,
                 languages=sorted({r["language"] for r in records if r.get("language")}), tasks=["automatic-speech-recognition"])

"""Synthetic read speech: real chatterbot-corpus sentences spoken by espeak-ng voices (English, Spanish)."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml
from scipy.signal import resample_poly

logger = logging.getLogger(__name__)

_KNOWN_OPTIONS = {"limit"}
SAMPLE_RATE = 16000
_ESPEAK_RATE = 22050  # espeak-ng always writes 22050 Hz mono 16-bit WAV
_WORKERS = 2
_MIN_WORDS, _MAX_WORDS, _PER_FILE = 3, 15, 3

# (espeak-ng voice+variant = speaker id, words per minute); the language is the part before "+".
SPEAKERS: tuple[tuple[str, int], ...] = (
    ("en-us+m3", 165),
    ("en-us+f2", 150),
    # "en" is espeak-ng's British English voice (gmw/en). Not "en-gb": espeak-ng 1.51
    # silently ignores a "+variant" after "en-gb" and speaks with the base voice.
    ("en+m1", 155),
    ("en+f4", 170),
    ("es+m2", 160),
    ("es+f3", 150),
    ("es-419+m4", 170),
    ("es-419+f5", 155),
)
_LANGUAGE = {"en-us": "en", "en": "en", "es": "es", "es-419": "es"}
# language -> (chatterbot-corpus folder, category files read in this order)
_SOURCES = {
    "en": ("english", ("greetings", "conversations", "emotion", "food")),
    "es": ("spanish", ("greetings", "conversations", "emociones", "dinero")),
}


def _corpus_dir() -> Path:
    from chatterbot_corpus.corpus import DATA_DIRECTORY

    return Path(DATA_DIRECTORY)


def _sentences(language: str) -> list[str]:
    """Return the fixed sentence list for ``language``: the first 3 distinct statements of
    3..15 words from each of its category files, whitespace-normalised."""
    folder, stems = _SOURCES[language]
    chosen: list[str] = []
    for stem in stems:
        path = _corpus_dir() / folder / f"{stem}.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        taken = 0
        for conversation in data.get("conversations") or []:
            for statement in conversation:
                text = " ".join(str(statement).split())
                if _MIN_WORDS <= len(text.split()) <= _MAX_WORDS and text not in chosen:
                    chosen.append(text)
                    taken += 1
                if taken == _PER_FILE:
                    break
            if taken == _PER_FILE:
                break
    return chosen


def _gender(speaker: str) -> str | None:
    variant = speaker.partition("+")[2]
    return {"f": "female", "m": "male"}.get(variant[:1])


def _synthesize(voice: str, wpm: int, text: str) -> bytes:
    """Speak ``text`` with espeak-ng and return 16 kHz mono 16-bit PCM WAV bytes."""
    with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
        out = Path(tmp) / "speech.wav"
        command = ["espeak-ng", "-v", voice, "-s", str(wpm), "-b", "1", "-w", str(out), "--stdin"]
        done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"espeak-ng failed for voice {voice}: {done.stderr.decode(errors='replace')}")
        samples, rate = sf.read(out, dtype="float64")
    if rate != _ESPEAK_RATE:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz, expected {_ESPEAK_RATE} Hz")
    resampled = np.clip(resample_poly(samples, SAMPLE_RATE, _ESPEAK_RATE), -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, resampled, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def load(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield one speech record per (speaker, sentence): 8 espeak-ng voices, each reading
    every sentence of its language (12 English or 12 Spanish), 96 records in all.

    Options: ``limit`` (int, optional) stops after that many records (and synthesises no more).
    """
    unknown = set(options) - _KNOWN_OPTIONS
    if unknown:
        raise ValueError(f"unknown options for espeak_speech: {sorted(unknown)}")
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed: run scripts/bootstrap (it installs Debian's espeak-ng)")

    texts = {language: _sentences(language) for language in _SOURCES}
    jobs: list[tuple[str, int, str, int, str]] = []
    for speaker, wpm in SPEAKERS:
        language = _LANGUAGE[speaker.partition("+")[0]]
        jobs.extend((speaker, wpm, language, index, text) for index, text in enumerate(texts[language]))
    limit = options.get("limit")
    if limit is not None:
        jobs = jobs[: int(limit)]
    logger.info("synthesising %d utterances with espeak-ng", len(jobs))

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        wavs = pool.map(lambda job: _synthesize(job[0], job[1], job[4]), jobs)
        for (speaker, _wpm, language, index, text), wav in zip(jobs, wavs):
            record_id = f"espeak-{speaker.replace('+', '-')}-{index:03d}"
            frames = sf.info(io.BytesIO(wav)).frames
            yield {
                "id": record_id,
                "audio": {"bytes": wav, "path": f"{record_id}.wav"},
                "transcript": text,
                "speaker": speaker,
                "speaker_gender": _gender(speaker),
                "language": language,
                "duration": frames / SAMPLE_RATE,
                "sample_rate": SAMPLE_RATE,
            }

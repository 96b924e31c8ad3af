"""Column inference shared by the importers: which source column feeds which record field."""

from __future__ import annotations

from typing import Any

__all__ = ["AUDIO_EXTS", "IMAGE_EXTS", "SYNONYMS", "pick", "speech_record"]

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".mp3", ".opus"}

# record field -> source column names that mean it, most likely first
SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "utt_id", "utterance_id", "image_id", "uid"),
    "transcript": ("transcript", "transcription", "sentence", "text", "normalized_text", "utterance"),
    "speaker": ("speaker", "speaker_id", "client_id", "spk", "spk_id"),
    "language": ("language", "locale", "lang"),
    "speaker_gender": ("speaker_gender", "gender"),
    "label": ("label", "labels", "class", "category"),
    "group": ("group", "source", "session", "group_id"),
    "split": ("split", "subset", "partition"),
}


def pick(columns: list[str] | tuple[str, ...], field: str, taken: set[str]) -> str | None:
    """The first column (case-insensitive) that means `field` and is not taken yet."""
    lower = {c.lower(): c for c in columns}
    for name in SYNONYMS.get(field, (field,)):
        column = lower.get(name)
        if column is not None and column not in taken:
            taken.add(column)
            return column
    return None


def _gender(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return {"f": "female", "female": "female", "woman": "female", "m": "male", "male": "male", "man": "male", "other": "other"}.get(text)


def speech_record(row: dict[str, Any], columns: dict[str, str | None], *, language: str | None) -> dict[str, Any]:
    """The text fields of a speech record from a source row, given the columns picked for them."""
    record: dict[str, Any] = {}
    for field in ("transcript", "speaker"):
        if columns.get(field):
            record[field] = str(row.get(columns[field]) or "")
    if columns.get("language") and row.get(columns["language"]):
        record["language"] = str(row[columns["language"]]).split("_")[0].lower() if "_" in str(row[columns["language"]]) else str(row[columns["language"]])
    elif language:
        record["language"] = language
    if columns.get("speaker_gender"):
        record["speaker_gender"] = _gender(row.get(columns["speaker_gender"]))
    return record

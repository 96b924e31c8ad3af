"""Multilingual chit-chat dialogues from the chatterbot-corpus package (English, Spanish, Chinese)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

_KNOWN_OPTIONS = {"limit"}
# BCP-47 code -> chatterbot-corpus folder, in the order the records are yielded.
LANGUAGES: tuple[tuple[str, str], ...] = (("en", "english"), ("es", "spanish"), ("zh", "chinese"))
_SPEAKERS = ("user", "bot")


def _corpus_dir() -> Path:
    from chatterbot_corpus.corpus import DATA_DIRECTORY

    return Path(DATA_DIRECTORY)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _category(data: dict[str, Any], stem: str) -> str:
    """The file's first category, lowercased; the file stem when it has none."""
    categories = data.get("categories") or []
    if categories and str(categories[0]).strip():
        return str(categories[0]).strip().lower()
    return stem.lower()


def load(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield one dialogue record per chatterbot-corpus conversation.

    Turns alternate ``user``/``bot`` starting with ``user``; the dialogue intent is the
    file's category. Ids look like ``en-greetings-0003`` (language, file stem, index in file).
    Non-string statements (YAML may parse e.g. ``yes`` as a bool) are converted with ``str``
    and counted in a log message. Options: ``limit`` (int, optional).
    """
    unknown = set(options) - _KNOWN_OPTIONS
    if unknown:
        raise ValueError(f"unknown options for chatterbot: {sorted(unknown)}")
    limit = options.get("limit")
    emitted = converted = skipped = 0
    for language, folder in LANGUAGES:
        for path in sorted((_corpus_dir() / folder).glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            intent = _category(data, path.stem)
            for index, conversation in enumerate(data.get("conversations") or []):
                turns = []
                for statement in conversation or []:
                    if statement is None:
                        continue
                    if not isinstance(statement, str):
                        converted += 1
                        statement = str(statement)
                    text = statement.strip()
                    if text:
                        turns.append({"speaker": _SPEAKERS[len(turns) % 2], "text": text, "intent": None})
                if not turns:
                    skipped += 1
                    continue
                if limit is not None and emitted >= int(limit):
                    return
                dialogue_id = f"{language}-{_slug(path.stem)}-{index:04d}"
                emitted += 1
                yield {
                    "id": dialogue_id,
                    "dialogue_id": dialogue_id,
                    "language": language,
                    "intent": intent,
                    "turns": turns,
                }
    if converted or skipped:
        logger.warning("converted %d non-string statements to str, skipped %d empty conversations", converted, skipped)
    logger.debug("yielded %d dialogues", emitted)

"""The cases: what a careless or hostile user gives the hub, and what the hub must say.

A case's rows are dicts (written as one JSON line each) or bytes (a line written as it is);
media files go under `raw/<case>/`. Record ids and group keys start with the case's name, so
that all cases of a record type can be published together as one dataset of many files.
`problems` lists (slug, row, field, message) in row order; a message may be a function of the
case's `Built` (for sizes and offsets computed while building). No problems: accepted.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

MAX_ROW_BYTES = 1_000_000  # HUB_MAX_ROW_BYTES while the corpus runs: a 1.2 MB line stands for a 200 MB one
RECORDS = ("image", "inspection", "speech", "dialogue", "sensor")
DEFECTS = ["ok", "scratch", "dent"]
MOTIONS = ["badminton", "running", "standing", "walking", "spike"]


@dataclass
class Materials:
    """The real data every case is made of."""

    pngs: list[bytes]  # scikit-learn digits, 8x8
    photo: bytes  # a digit scaled to 960x643
    wav: bytes  # espeak-ng
    wav_rate: int
    wav_duration: float
    dialogues: list[dict[str, Any]]  # chatterbot corpus
    motions: list[dict[str, Any]]  # BasicMotions windows, 6 channels x 100 samples

    @classmethod
    def make(cls, pngs: list[bytes], wav: bytes) -> Materials:
        import soundfile
        from PIL import Image

        from hub.demo.basicmotions import load as motions
        from hub.demo.chatterbot import load as dialogues

        with Image.open(io.BytesIO(pngs[0])) as digit:
            buffer = io.BytesIO()
            digit.resize((960, 643)).save(buffer, format="PNG")
        info = soundfile.info(io.BytesIO(wav))
        return cls(pngs, buffer.getvalue(), wav, info.samplerate, info.duration, list(dialogues({})), list(motions({})))


@dataclass
class Built:
    """A case's source: lines (dicts or raw bytes) and media, or a Parquet table."""

    lines: list[dict[str, Any] | bytes] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    bom: bool = False  # a UTF-8 byte order mark before the first line
    crlf: bool = False  # Windows line ends
    table: pa.Table | None = None  # a Parquet source instead of JSONL
    facts: dict[str, Any] = field(default_factory=dict)

    def good_ids(self, rejected_rows: set[int]) -> list[str]:
        """The ids of the rows that are not rejected (lines that are not records have none)."""
        if self.table is not None:
            return [r["id"] for i, r in enumerate(self.table.to_pylist(), 1) if i not in rejected_rows]
        return [line["id"] for i, line in enumerate(self.lines, 1) if isinstance(line, dict) and i not in rejected_rows]

    def data(self) -> bytes:
        end = b"\r\n" if self.crlf else b"\n"
        text = b"".join((line if isinstance(line, bytes) else json.dumps(line, ensure_ascii=False).encode()) + end for line in self.lines)
        return (b"\xef\xbb\xbf" if self.bom else b"") + text


Problem = tuple[str, int, str | None, "str | Callable[[Built], str]"]


@dataclass(frozen=True)
class Case:
    name: str
    record: str
    build: Callable[[Materials, str], Built]
    problems: tuple[Problem, ...] = ()
    publish: bool = True  # row problems only: part of its record type's --allow-rejects publish

    @property
    def id(self) -> str:
        return f"{self.record}/{self.name}"


# -- record makers -------------------------------------------------------------------------------


def images(m: Materials, p: str, n: int = 3) -> Built:
    built = Built()
    for i in range(n):
        path = f"raw/{p}/img-{i}.png"
        built.files[path] = m.pngs[i % len(m.pngs)]
        built.lines.append({"id": f"{p}-{i}", "image": path, "label": str(i % 10), "group": f"{p}-g{i}"})
    return built


def inspections(m: Materials, p: str, n: int = 3) -> Built:
    built = Built()
    for i in range(n):
        path = f"raw/{p}/part-{i}.png"
        built.files[path] = m.photo if i == 0 else m.pngs[i]
        built.lines.append({"id": f"{p}-{i}", "image": path, "asset_id": f"{p}-a{i}", "defect": DEFECTS[i % 3],
                            "objects": {"bbox": [[1, 1, 4, 4]], "category": ["scratch"]}})
    return built


def utterances(m: Materials, p: str, n: int = 3) -> Built:
    built = Built()
    for i in range(n):
        path = f"raw/{p}/utt-{i}.wav"
        built.files[path] = m.wav
        built.lines.append({"id": f"{p}-{i}", "audio": path, "transcript": "the kettle is boiling in the kitchen", "speaker": f"{p}-s{i}",
                            "language": "en", "duration": round(m.wav_duration, 3), "sample_rate": m.wav_rate})
    built.facts.update(rate=m.wav_rate, duration=m.wav_duration)
    return built


def dialogues(m: Materials, p: str, n: int = 3, start: int = 0) -> Built:
    built = Built()
    for r in m.dialogues[start:start + n]:
        built.lines.append(dict(r, id=f"{p}-{r['id']}", dialogue_id=f"{p}-{r['dialogue_id']}"))
    return built


def windows(m: Materials, p: str, n: int = 3) -> Built:
    built = Built()
    for r in m.motions[:n]:
        built.lines.append(dict(r, id=f"{p}-{r['id']}", asset_id=f"{p}-{r['asset_id']}"))
    return built


def change(make: Callable[..., Built], row: int, edit: Callable[[dict[str, Any]], Any], n: int = 3, files: dict[str, bytes] | None = None) -> Callable[[Materials, str], Built]:
    """A builder: `n` good rows from `make`, then row `row` (1-based) replaced by `edit(row)`
    (a dict, or bytes for a raw line), and `files` (paths under raw/<case>/) added."""

    def build(m: Materials, p: str) -> Built:
        built = make(m, p, n)
        built.lines[row - 1] = edit(dict(built.lines[row - 1]))
        for name, data in (files or {}).items():
            built.files[f"raw/{p}/{name}"] = data(m) if callable(data) else data
        return built

    return build


def raw(record: dict[str, Any], old: str, new: str) -> bytes:
    """`record` as a JSON line with `old` replaced by `new` (for what json.dumps cannot write)."""
    text = json.dumps(record, ensure_ascii=False)
    if old not in text:
        raise ValueError(f"{old!r} is not in {text!r}")
    return text.replace(old, new, 1).encode()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels and holds a few bytes of data: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def wav_without_samples(m: Materials) -> bytes:
    import numpy as np
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(0, dtype=np.int16), m.wav_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _1000_dialogues_one_latin1(m: Materials, p: str) -> Built:
    """Item 9: 1,000 dialogues, line 500 written in Latin-1 (one invalid UTF-8 byte)."""
    built = dialogues(m, p, 1000)
    for r in m.dialogues:
        line = json.dumps(dict(r, id=f"{p}-latin1", dialogue_id=f"{p}-latin1"), ensure_ascii=False)
        try:
            if r["language"] == "es" and "é" in line:
                built.lines[499] = line.encode("latin-1")
                break
        except UnicodeEncodeError:  # a character Latin-1 does not have
            continue
    try:
        built.lines[499].decode("utf-8")
    except UnicodeDecodeError as exc:  # where Python's own decoder stops
        built.facts.update(at=exc.start + 1, byte=built.lines[499][exc.start], reason=exc.reason)
    return built


def _bom_crlf(make: Callable[..., Built]) -> Callable[[Materials, str], Built]:
    def build(m: Materials, p: str) -> Built:
        built = make(m, p, 3)
        built.bom = built.crlf = True
        return built

    return build


def _with_comments(m: Materials, p: str) -> Built:
    built = dialogues(m, p, 2)
    built.lines = [b"# exported 2026-11-20", built.lines[0], b"", b"   ", built.lines[1]]
    return built


def _oversized_line(m: Materials, p: str) -> Built:
    built = dialogues(m, p, 3)
    big = dict(built.lines[1], turns=[{"speaker": "user", "text": "word " * 240_000}])  # a 1.2 MB text where the test's limit is 1 MB
    built.lines[1] = big
    built.facts["size"] = len(json.dumps(big, ensure_ascii=False).encode()) + 1
    return built


def _parquet(make: Callable[..., Built], edit: Callable[[list[dict[str, Any]]], pa.Table]) -> Callable[[Materials, str], Built]:
    def build(m: Materials, p: str) -> Built:
        built = make(m, p, 3)
        built.table = edit([dict(r) for r in built.lines])
        built.lines = []
        second = built.table.slice(1, 1).to_pylist()[0]  # its size as the hub counts it: the bytes of its strings
        built.facts["size"] = sum(len(v.encode()) for k, v in second.items() if isinstance(v, str)) + sum(len(t["speaker"]) + len(t["text"]) for t in second["turns"])
        return built

    return build


def _deep(depth: int) -> Callable[[dict[str, Any]], bytes]:
    return lambda r: raw(r, '"turns": [', '"turns": [' + "[" * (depth - 1) + "]" * (depth - 1) + ", ")  # the record, turns, then depth - 1 lists


def _turn(**extra: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda r: dict(r, turns=[r["turns"][0], dict(r["turns"][1], **extra)])


def _objects(bbox: list, category: list, **extra: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda r: dict(r, objects={"bbox": bbox, "category": category, **extra})


def _series(edit: Callable[[list[list[float]]], Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda r: dict(r, series=edit([list(c) for c in r["series"]]))


NOT_A_STRING = "label: 5 is not of type 'string', 'null'"
DIALOGUE_LANGUAGE = "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"

CASES: list[Case] = [
    # -- image (digits) --------------------------------------------------------------------------
    Case("accepted", "image", lambda m, p: images(m, p, 4)),
    Case("bom-crlf", "image", _bom_crlf(images)),  # item 14
    Case("label-not-a-string", "image", change(images, 2, lambda r: dict(r, label=5)), (("type-error", 2, "label", NOT_A_STRING),)),
    Case("truncated-png", "image", change(images, 2, lambda r: dict(r, image=r["image"].replace("img-1", "cut")), files={"cut.png": lambda m: m.pngs[1][: len(m.pngs[1]) // 2]}),
         (("undecodable-image", 2, "image", "image cannot be decoded: image file is truncated"),)),
    Case("text-as-png", "image", change(images, 3, lambda r: dict(r, image=r["image"].replace("img-2", "text")), files={"text.png": b"this is not an image\n"}),
         (("undecodable-image", 3, "image", "image cannot be decoded: cannot identify image file"),)),
    Case("decompression-bomb", "image", change(images, 2, lambda r: dict(r, image=r["image"].replace("img-1", "bomb")), files={"bomb.png": png_header(40_000, 40_000)}),
         (("undecodable-image", 2, "image", "image cannot be decoded: Image size (1600000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb DOS attack."),)),
    Case("bomb-under-the-decoder-limit", "image", change(images, 1, lambda r: dict(r, image=r["image"].replace("img-0", "bomb")), files={"bomb.png": png_header(10_000, 10_000)}),
         (("undecodable-image", 1, "image", "image cannot be decoded: the image is 10000x10000 pixels, more than the 89478485 the decoder allows (a decompression bomb?)"),)),
    Case("path-leaves-folder", "image", change(images, 2, lambda r: dict(r, image="../../../secret.png")),
         (("unsafe-path", 2, "image", "path '../../../secret.png' leaves the dataset folder"),)),
    Case("media-file-missing", "image", change(images, 3, lambda r: dict(r, image="raw/nowhere.png")),
         (("type-error", 3, "image", "media file 'raw/nowhere.png' does not exist (looked for raw/raw/nowhere.png, next to the records file, and raw/nowhere.png in the dataset folder)"),)),
    Case("base64-that-is-not", "image", change(images, 2, lambda r: dict(r, image={"bytes": "not base64!"})),
         (("type-error", 2, "image", "media 'bytes' is text but not base64"),)),
    Case("inline-base64", "image", lambda m, p: _inline(m, p, {"path": None})),
    Case("media-extra-key", "image", lambda m, p: _inline(m, p, {"path": "one.png", "caption": "a one"}), (("unknown-field", 2, "image.caption", "field 'caption' in image is not in the image record schema"),)),  # item 12
    Case("repeated-key", "image", change(images, 2, lambda r: raw(r, '"label": "1"', '"label": "1", "label": "7"')),  # item 12
         (("duplicate-key", 2, "label", "key 'label' is given twice in the record: JSON keeps only the last value"),)),
    Case("repeated-id", "image", change(images, 3, lambda r: dict(r, id=r["id"].replace("-2", "-0")), n=4),
         (("duplicate-id", 3, "id", lambda b: f"record id '{b.lines[0]['id']}' repeats the one at raw/repeated-id.jsonl row 1"),)),
    Case("id-with-slash", "image", change(images, 2, lambda r: dict(r, id="a/b")), (("constraint-error", 2, "id", "id 'a/b' does not match ^[^\\s/\\\\]+$"),)),
    Case("id-300-characters", "image", change(images, 2, lambda r: dict(r, id="x" * 300)),  # item 13
         (("constraint-error", 2, "id", "id is 300 characters long; the limit is 256"),)),
    Case("blank-group", "image", change(images, 1, lambda r: dict(r, group=" ")),
         (("missing-group-key", 1, "group", "the group key 'group' (split.group_key) is missing or blank"),)),
    Case("extra-field", "image", change(images, 2, lambda r: dict(r, photographer="ann"))),  # issue 11: kept as an extra field, published
    Case("field-name-typo", "image", change(images, 2, lambda r: {("lable" if k == "label" else k): v for k, v in r.items()}),  # issue 11: an extra this close to a field is a typo
         (("unknown-field", 2, "lable", "field 'lable' is not in the image record schema: did you mean 'label'?"),)),
    Case("label-outside-set", "image", change(images, 3, lambda r: dict(r, label="ten")),
         (("label-not-in-set", 3, "label", "label 'ten' in label is not in the label set"),)),
    Case("not-json", "image", change(images, 2, lambda r: b'{"id": "half a record'),
         (("type-error", 2, None, "not valid JSON: Unterminated string starting at column 8"),)),
    Case("not-an-object", "image", change(images, 2, lambda r: b"[1, 2, 3]"), (("type-error", 2, None, "a record must be an object, not list"),)),
    Case("100k-brackets", "image", change(images, 2, lambda r: b"[" * 100_000),  # item 11
         (("too-deep", 2, None, "nested deeper than 64 levels of arrays and objects"),)),
    Case("box-outside-8x8", "image", change(images, 2, lambda r: dict(r, objects={"bbox": [[4, 4, 100, 100]], "category": ["1"]})),  # item 13
         (("bad-box", 2, "objects.bbox", "objects.bbox[0] [4, 4, 100, 100] lies outside the 8x8 image (x 4 to 104, y 4 to 104)"),)),
    # -- inspection (digits scaled up, boxes) ------------------------------------------------------
    Case("accepted", "inspection", inspections),
    Case("box-xyxy", "inspection", change(inspections, 1, _objects([[100, 100, 50, 40], [900, 600, 400, 592]], ["dent", "scratch"])),  # item 13
         (("bad-box", 1, "objects.bbox", "objects.bbox[1] [900, 600, 400, 592] lies outside the 960x643 image (x 900 to 1300, y 600 to 1192)"),)),
    Case("negative-width", "inspection", change(inspections, 2, _objects([[6, 1, -5, 3]], ["dent"])),  # item 13
         (("bad-box", 2, "objects.bbox", "objects.bbox[0] [6, 1, -5, 3] has width -5 and height 3: both must be above 0"),)),
    Case("two-categories-one-box", "inspection", change(inspections, 3, _objects([[1, 1, 2, 2]], ["dent", "scratch"])),  # item 13
         (("inconsistent-record", 3, "objects.category", "objects has 1 box and 2 categories: give one category per box"),)),
    Case("null-box", "inspection", change(inspections, 2, _objects([[1, 1, 2, 2], None], ["dent", "dent"])),
         (("type-error", 2, "objects.bbox[]", "objects.bbox[1]: None is not of type 'array'"),)),
    Case("box-of-three", "inspection", change(inspections, 2, _objects([[1, 1, 2]], ["dent"])),
         (("type-error", 2, "objects.bbox", "objects.bbox.0: [1, 1, 2] is too short"),)),
    Case("boolean-in-box", "inspection", change(inspections, 2, _objects([[1, 1, True, 2]], ["dent"])),
         (("type-error", 2, "objects.bbox[][]", "objects.bbox[0][2]: True is not of type 'number'"),)),
    Case("objects-extra-key", "inspection", change(inspections, 3, _objects([[1, 1, 2, 2]], ["dent"], score=[0.9]))),  # a nested extra field, kept (issue 11)
    Case("objects-key-typo", "inspection", change(inspections, 3, lambda r: dict(r, objects={"bbox": [[1, 1, 2, 2]], "categroy": ["dent"]})),  # item 12
         (("unknown-field", 3, "objects.categroy", "field 'categroy' in objects is not in the inspection record schema: did you mean 'category'?"),)),
    Case("category-outside-set", "inspection", change(inspections, 1, _objects([[1, 1, 2, 2]], ["rust"])),
         (("label-not-in-set", 1, "objects.category", "label 'rust' in objects.category is not in the label set"),)),
    Case("missing-asset", "inspection", change(inspections, 2, lambda r: {k: v for k, v in r.items() if k != "asset_id"}),
         (("missing-group-key", 2, "asset_id", "the group key 'asset_id' (split.group_key) is missing or blank"),)),
    # -- speech (espeak-ng) ----------------------------------------------------------------------------
    Case("accepted", "speech", utterances),
    Case("bom-crlf", "speech", _bom_crlf(utterances)),  # item 14
    Case("text-as-wav", "speech", change(utterances, 2, lambda r: dict(r, audio=r["audio"].replace("utt-1", "text")), files={"text.wav": b"RIFF....WAVEfmt this is a text file"}),
         (("undecodable-audio", 2, "audio", "audio cannot be decoded: Error opening: Error in WAV/W64/RF64 file. Malformed 'fmt ' chunk."),)),
    Case("wav-without-samples", "speech", change(utterances, 3, lambda r: dict(r, audio=r["audio"].replace("utt-2", "empty")), files={"empty.wav": wav_without_samples}),
         (("undecodable-audio", 3, "audio", "audio cannot be decoded: the audio has no samples"),)),
    Case("fractional-sample-rate", "speech", change(utterances, 2, lambda r: dict(r, sample_rate=r["sample_rate"] + 0.7)),  # item 12
         (("type-error", 2, "sample_rate", lambda b: f"sample_rate: {b.facts['rate'] + 0.7} is not of type 'integer'"),)),
    Case("whole-float-sample-rate", "speech", change(utterances, 2, lambda r: dict(r, sample_rate=float(r["sample_rate"])))),  # 22050.0 is 22050
    Case("wrong-sample-rate", "speech", change(utterances, 1, lambda r: dict(r, sample_rate=16000)),
         (("inconsistent-record", 1, "sample_rate", lambda b: f"sample_rate says 16000 Hz, the audio is {b.facts['rate']} Hz"),)),
    Case("wrong-duration", "speech", change(utterances, 3, lambda r: dict(r, duration=9.0)),
         (("inconsistent-record", 3, "duration", lambda b: f"duration says 9.000 s, the audio lasts {b.facts['duration']:.3f} s"),)),
    Case("duration-true", "speech", change(utterances, 2, lambda r: dict(r, duration=True)), (("type-error", 2, "duration", "duration: True is not of type 'number'"),)),
    Case("negative-duration", "speech", change(utterances, 2, lambda r: dict(r, duration=-1.0)),
         (("constraint-error", 2, "duration", "duration must be greater than 0"),
          ("inconsistent-record", 2, "duration", lambda b: f"duration says -1.000 s, the audio lasts {b.facts['duration']:.3f} s"))),
    Case("segment-ends-before-start", "speech", change(utterances, 2, lambda r: dict(r, segments=[{"start": 0.0, "end": 0.5, "label": "a"}, {"start": 1.5, "end": 0.5, "label": "b"}])),  # item 13
         (("bad-span", 2, "segments[].end", "segments[1] ends at 0.5 s, before it starts (1.5 s)"),)),
    Case("segment-extra-key", "speech", change(utterances, 3, lambda r: dict(r, segments=[{"start": 0.0, "end": 0.5, "label": "a", "confidence": 0.9}]))),  # kept (issue 11)
    Case("segment-key-typo", "speech", change(utterances, 3, lambda r: dict(r, segments=[{"start": 0.0, "end": 0.5, "lable": "a"}])),  # item 12
         (("unknown-field", 3, "segments[].lable", "field 'lable' in segments[0] is not in the speech record schema: did you mean 'label'?"),)),
    Case("blank-transcript", "speech", change(utterances, 1, lambda r: dict(r, transcript="\u3000 ")), (("blank-text", 1, "transcript", "transcript is empty or blank"),)),
    Case("null-transcript", "speech", change(utterances, 2, lambda r: dict(r, transcript=None)), (("missing-field", 2, "transcript", "required field 'transcript' is missing"),)),
    Case("gender-outside-enum", "speech", change(utterances, 2, lambda r: dict(r, speaker_gender="robot")),
         (("constraint-error", 2, "speaker_gender", "speaker_gender must be one of female, male, other"),)),
    # -- dialogue (chatterbot) ---------------------------------------------------------------------------
    Case("accepted", "dialogue", dialogues),
    Case("bom-crlf", "dialogue", _bom_crlf(dialogues)),  # item 14
    Case("comments-and-blank-lines", "dialogue", _with_comments),
    Case("latin1-line-in-1000", "dialogue", _1000_dialogues_one_latin1,  # item 9
         (("not-utf8", 500, None, lambda b: f"not UTF-8 text: byte 0x{b.facts['byte']:02x} at byte {b.facts['at']} of the line ({b.facts['reason']})"),)),
    Case("null-turn-text", "dialogue", change(dialogues, 2, lambda r: dict(r, turns=[dict(t, text=None) for t in r["turns"]])),  # item 10
         (("missing-field", 2, "turns[].text", "required field turns[].text is missing"),)),
    Case("null-turn", "dialogue", change(dialogues, 3, lambda r: dict(r, turns=[*r["turns"], None])),  # item 10
         (("type-error", 3, "turns[]", "turns[2]: None is not of type 'object'"),)),
    Case("turn-extra-key", "dialogue", change(dialogues, 2, _turn(mood="happy"))),  # a nested extra field, kept (issue 11)
    Case("turn-key-typo", "dialogue", change(dialogues, 2, _turn(intnet="greeting")),  # item 12: the turn's intent is null
         (("unknown-field", 2, "turns[].intnet", "field 'intnet' in turns[1] is not in the dialogue record schema: did you mean 'intent'?"),)),
    Case("repeated-key-in-turn", "dialogue", change(dialogues, 3, lambda r: raw(r, '"speaker": "user", ', '"speaker": "user", "speaker": "bot", ')),  # item 12
         (("duplicate-key", 3, "turns[].speaker", "key 'speaker' is given twice in turns[0]: JSON keeps only the last value"),)),
    Case("100k-brackets", "dialogue", change(dialogues, 2, lambda r: b"[" * 100_000), (("too-deep", 2, None, "nested deeper than 64 levels of arrays and objects"),)),  # item 11
    Case("nested-100-deep", "dialogue", change(dialogues, 3, _deep(100)), (("too-deep", 3, None, "nested deeper than 64 levels of arrays and objects"),)),  # item 11
    Case("oversized-line", "dialogue", _oversized_line,  # item 13
         (("oversized-row", 2, None, lambda b: f"record is {b.facts['size']} bytes; the limit is {MAX_ROW_BYTES} (HUB_MAX_ROW_BYTES)"),)),
    Case("unicode-blank-text", "dialogue", change(dialogues, 1, _turn(text=" \u3000\t")), (("blank-text", 1, "turns[].text", "turns[].text is empty or blank"),)),
    Case("no-turns", "dialogue", change(dialogues, 2, lambda r: dict(r, turns=[])), (("constraint-error", 2, "turns", "turns must have at least 1 item(s)"),)),
    Case("bad-language-tag", "dialogue", change(dialogues, 2, lambda r: dict(r, language="EN_us")),
         (("constraint-error", 2, "language", f"language 'EN_us' does not match {DIALOGUE_LANGUAGE}"),)),
    Case("intent-outside-set", "dialogue", change(dialogues, 3, lambda r: dict(r, intent="smalltalk")),
         (("label-not-in-set", 3, "intent", "label 'smalltalk' in intent is not in the label set"),)),
    Case("turn-intent-outside-set", "dialogue", change(dialogues, 1, _turn(intent="chitchat")),
         (("label-not-in-set", 1, "turns.intent", "label 'chitchat' in turns.intent is not in the label set"),)),
    Case("null-dialogue-id", "dialogue", change(dialogues, 2, lambda r: dict(r, dialogue_id=None)),
         (("missing-group-key", 2, "dialogue_id", "the group key 'dialogue_id' (split.group_key) is missing or blank"),)),
    Case("parquet-turn-extra-field", "dialogue", _parquet(dialogues, lambda rows: pa.Table.from_pylist([dict(r, turns=[dict(t, mood="ok") for t in r["turns"]]) for r in rows]))),  # kept
    Case("parquet-turn-key-typo", "dialogue", _parquet(dialogues, lambda rows: pa.Table.from_pylist([dict(r, turns=[{"speaker": t["speaker"], "text": t["text"], "intnet": "greeting"} for t in r["turns"]]) for r in rows])),
         (("unknown-field", None, "turns[].intnet", "column 'turns': field 'intnet' in turns[] is not in the dialogue record schema: did you mean 'intent'?"),), publish=False),
    Case("parquet-oversized-row", "dialogue", _parquet(dialogues, lambda rows: pa.Table.from_pylist([rows[0], dict(rows[1], turns=[{"speaker": "u", "text": "word " * 240_000, "intent": None}]), rows[2]])),  # item 13
         (("oversized-row", 2, None, lambda b: f"record is {b.facts['size']} bytes; the limit is {MAX_ROW_BYTES} (HUB_MAX_ROW_BYTES)"),)),
    # -- sensor (BasicMotions) -------------------------------------------------------------------------
    Case("accepted", "sensor", windows),
    Case("bom-crlf", "sensor", _bom_crlf(windows)),  # item 14
    Case("ragged-channels", "sensor", change(windows, 2, _series(lambda s: [s[0][:50], *s[1:]])),
         (("inconsistent-record", 2, "series", "channels, units and series must have one entry per channel, and every channel the same length"),)),
    Case("units-missing-one", "sensor", change(windows, 3, lambda r: dict(r, units=r["units"][:5])),
         (("inconsistent-record", 3, "series", "channels, units and series must have one entry per channel, and every channel the same length"),)),
    Case("anomaly-ends-before-start", "sensor", change(windows, 1, lambda r: dict(r, anomalies=[{"start": 8.0, "end": 2.0, "label": "spike"}])),  # item 13
         (("bad-span", 1, "anomalies[].end", "anomalies[0] ends at 2 s, before it starts (8 s)"),)),
    Case("anomaly-extra-key", "sensor", change(windows, 2, lambda r: dict(r, anomalies=[{"start": 1.0, "end": 2.0, "label": "spike", "note": "bump"}]))),  # kept (issue 11)
    Case("boolean-sample", "sensor", change(windows, 2, _series(lambda s: [s[0][:3] + [True] + s[0][4:], *s[1:]])),  # item 12
         (("type-error", 2, "series[][]", "series[0][3]: True is not of type 'number'"),)),
    Case("nan-sample", "sensor", change(windows, 3, lambda r: raw(r, "[[", "[[NaN, ")),
         (("constraint-error", 3, "series[][]", "series[][] must be a finite number"),
          ("inconsistent-record", 3, "series", "channels, units and series must have one entry per channel, and every channel the same length"))),
    Case("zero-sample-rate", "sensor", change(windows, 2, lambda r: dict(r, sample_rate=0)), (("constraint-error", 2, "sample_rate", "sample_rate must be greater than 0"),)),
    Case("fault-outside-set", "sensor", change(windows, 1, lambda r: dict(r, fault="jumping")), (("label-not-in-set", 1, "fault", "label 'jumping' in fault is not in the label set"),)),
    Case("null-channel-name", "sensor", change(windows, 1, lambda r: dict(r, channels=[*r["channels"][:5], None])), (("type-error", 1, "channels[]", "channels[5]: None is not of type 'string'"),)),
    Case("blank-channel-name", "sensor", change(windows, 2, lambda r: dict(r, channels=[*r["channels"][:5], " "])), (("blank-text", 2, "channels[]", "channels[] is empty or blank"),)),
    Case("empty-series", "sensor", change(windows, 3, lambda r: dict(r, series=[])),
         (("constraint-error", 3, "series", "series must have at least 1 item(s)"),
          ("inconsistent-record", 3, "series", "channels, units and series must have one entry per channel, and every channel the same length"))),
]


def _inline(m: Materials, p: str, extra: dict[str, Any]) -> Built:
    """Row 2's image given inline, as base64 text, with `extra` keys."""
    built = images(m, p, 3)
    built.lines[1] = dict(built.lines[1], image={"bytes": b64(m.pngs[1]), **extra})
    return built


# -- writing -----------------------------------------------------------------------------------------


@functools.cache
def _intents() -> list[str]:
    from hub.demo.chatterbot import load

    return sorted({r["intent"] for r in load({})})


def dataset_doc(record: str, files: list[str], fmt: str = "jsonl") -> dict[str, Any]:
    """The dataset.yaml of a corpus dataset of `record`s read from `files`."""
    modality = {"inspection": "industrial", "sensor": "industrial"}.get(record, record)
    labels = {"image": [str(i) for i in range(10)], "inspection": DEFECTS, "speech": [], "sensor": MOTIONS,
              "dialogue": _intents()}[record]
    key = {"image": "group", "inspection": "asset_id", "speech": "speaker", "dialogue": "dialogue_id", "sensor": "asset_id"}[record]
    return {"title": f"Bad input: {record}", "description": "Cases of the bad-input corpus.", "modality": modality, "record": record,
            "license": "CC0-1.0", "source": {"format": fmt, "files": [{"path": f} for f in files]}, "labels": labels,
            "split": {"group_key": key, "ratios": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 3}}


def write_source(folder: Path, name: str, built: Built) -> str:
    """Write a case's source file (raw/<name>.jsonl or .parquet) and media under `folder`; return the file's path."""
    for path, data in built.files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    if built.table is not None:
        pq.write_table(built.table, folder / "raw" / f"{name}.parquet")
        return f"raw/{name}.parquet"
    (folder / "raw" / f"{name}.jsonl").write_bytes(built.data())
    return f"raw/{name}.jsonl"


def write_dataset_doc(folder: Path, doc: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

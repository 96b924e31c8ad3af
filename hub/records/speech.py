"""Speech: one utterance (audio bytes, transcript, speaker), `schemas/speech.schema.json`.

- Validation: the audio must decode (soundfile), at the sample rate and for the duration
  the record says.
- Duplicates: the same decoded samples (the same sentence by two speakers is not one).
- Stats: duration and transcript length per row; hours and speakers per split.
- Label Studio: `transcription` (Audio + TextArea, into `transcript`) and
  `speaker-segments` (Audio + Labels, one per speaker, into `segments`).
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any

from hub.records.base import EvalSpec, RecordType, TaskSpec, object_names

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from hub.checks import Checker
    from hub.dedup import Thresholds, _Keys
    from hub.entry import Entry
    from hub.fingerprints import Prints

__all__ = ["SPEECH", "Speech", "audio_fingerprint", "decode_audio"]


def decode_audio(blob: bytes) -> tuple[int, float]:
    """(sample rate, duration in seconds) of an audio file; raises for one that does not decode."""
    import soundfile

    with soundfile.SoundFile(io.BytesIO(blob)) as f:
        if f.frames <= 0:
            raise ValueError("the audio has no samples")
        f.read(frames=min(f.frames, 1024))  # the header can lie: decode some samples
        return f.samplerate, f.frames / f.samplerate


def audio_fingerprint(blob: bytes | None) -> bytes | None:
    """sha256 of the decoded samples (16-bit) and the sample rate: equal for the same sound in
    any container."""
    if blob is None:
        return None
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(blob), dtype="int16", always_2d=True)
    return hashlib.sha256(str(rate).encode() + samples.tobytes()).digest()


class Speech(RecordType):
    name = "speech"
    modality = "speech"
    schema = "speech"
    group_key = "speaker"
    example = {"transcript": "the kettle is boiling", "speaker": "spk-001", "speaker_gender": "female", "language": "en", "duration": 1.5, "sample_rate": 16000}
    media_extension = "wav"
    languages = True
    free_text = (("transcript",),)
    pii_default = "reject"  # what people said: personal data is refused unless dataset.yaml says otherwise
    tasks = (
        TaskSpec("speech", "transcription", "transcript", "text", "transcript", "audio", "textarea"),
        TaskSpec("speech", "speaker-segments", "segments", "spans", "segments", "audio", "labels", labels_from="speaker"),
    )

    # -- validation -----------------------------------------------------------------------

    def decode(self, kind: str, blob: bytes) -> Any:
        if kind != "Audio":
            return super().decode(kind, blob)
        return decode_audio(blob)

    derived = ("sample_rate", "duration")

    def derive(self, kind: str, info: Any) -> dict[str, Any]:
        rate, duration = info
        return {"sample_rate": rate, "duration": duration}

    def check_decoded(self, checker: Checker, row: int, field: str, kind: str, info: Any) -> None:
        """The declared sample rate and duration against the decoded audio's."""
        import numpy as np

        rate, duration = info
        declared_rate = checker.table.column("sample_rate")[row].as_py()
        declared = checker.table.column("duration")[row].as_py()
        if declared_rate is not None and declared_rate != rate:
            checker.flag(np.array([row]), "inconsistent-record", f"sample_rate says {declared_rate} Hz, the audio is {rate} Hz", "sample_rate")
        if declared is not None and abs(declared - duration) > max(0.05, 0.02 * duration):
            checker.flag(np.array([row]), "inconsistent-record", f"duration says {declared:.3f} s, the audio lasts {duration:.3f} s", "duration")

    # -- duplicates -----------------------------------------------------------------------

    def duplicates(self, table: pa.Table, keys: _Keys, thresholds: Thresholds, bar: Any, text_hashes: np.ndarray | pa.ChunkedArray | None) -> None:
        import pyarrow.compute as pc

        from hub.dedup import tracked

        blobs = pc.struct_field(table.column("audio"), "bytes").to_pylist()
        keys.add_exact("exact-audio", [audio_fingerprint(b) for b in tracked(blobs, bar)])


    def fingerprints(self, table: pa.Table, thresholds: Thresholds, rows: int | None = None) -> Prints:
        import pyarrow.compute as pc

        from hub.fingerprints import Prints, safely

        blobs = pc.struct_field(table.column("audio"), "bytes").to_pylist()
        return Prints([safely(audio_fingerprint, b) for b in blobs])

    # -- stats ----------------------------------------------------------------------------

    def metrics(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        import numpy as np
        import pyarrow.compute as pc

        per_row = {
            "duration_s": table.column("duration").to_numpy(zero_copy_only=False).astype(np.float64),
            "transcript_chars": pc.utf8_length(table.column("transcript")).to_numpy(zero_copy_only=False),
        }
        return per_row, {}

    def split_stats(self, table: pa.Table, mask: np.ndarray, per_row: dict[str, np.ndarray], split: dict[str, Any], entry: Entry) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        hours = round(float(per_row["duration_s"][mask].sum()) / 3600, 4)
        if entry.split.group_key == "speaker":
            speakers = split["groups"]
        else:
            speakers = pc.count_distinct(table.column("speaker").filter(pa.array(mask))).as_py()
        return {"hours": hours, "speakers": speakers}

    # -- pages ----------------------------------------------------------------------------

    def preview(self, row: dict[str, Any], features: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The player with the clip's duration beside it (the page adds the media URL and has the
        browser read the file's header, so the player shows its length before it is played)."""
        duration = row.get("duration")
        return {"audio": {"kind": "audio", "duration": f"{duration:.2f} s" if isinstance(duration, (int, float)) else ""}} if row.get("audio") else {}

    # -- Label Studio ---------------------------------------------------------------------

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        name, value = object_names(spec)
        return f"  <Audio name={name} value={value}/>"

    def task_media(self, spec: TaskSpec) -> str | None:
        return "audio"

    # -- evaluation -----------------------------------------------------------------------

    evaluations = (EvalSpec("transcription", "transcript", "transcription", ("language",)), EvalSpec("classification", "label", "classification"),
                   EvalSpec("speaker-segments", "segments", "segments", ("duration",)))


SPEECH = Speech()

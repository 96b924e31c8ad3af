"""Speech: one utterance (audio bytes, transcript, speaker), `schemas/speech.schema.json`.

- Stats: duration and transcript length per row; hours and speakers per split.
- Label Studio: `transcription` (Audio + TextArea, into `transcript`) and
  `speaker-segments` (Audio + Labels, one per speaker, into `segments`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.records.base import RecordType, TaskSpec, object_names

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from hub.entry import Entry

__all__ = ["SPEECH", "Speech"]


class Speech(RecordType):
    name = "speech"
    modality = "speech"
    schema = "speech"
    group_key = "speaker"
    example = {"transcript": "the kettle is boiling", "speaker": "spk-001", "speaker_gender": "female", "language": "en", "duration": 1.5, "sample_rate": 16000}
    media_extension = "wav"
    languages = True
    tasks = (
        TaskSpec("speech", "transcription", "transcript", "text", "transcript", "audio", "textarea"),
        TaskSpec("speech", "speaker-segments", "segments", "spans", "segments", "audio", "labels", labels_from="speaker"),
    )

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

    # -- Label Studio ---------------------------------------------------------------------

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        name, value = object_names(spec)
        return f"  <Audio name={name} value={value}/>"

    def task_media(self, spec: TaskSpec) -> str | None:
        return "audio"


SPEECH = Speech()

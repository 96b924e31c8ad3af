"""Dialogues: a conversation's turns (speaker, text) and its intent, `schemas/dialogue.schema.json`.

- Duplicates: the turns' text, lower-cased, whitespace collapsed (`text_sql`); near: MinHash
  over word 3-grams, Jaccard >= 0.8 (`hub.dedup.text_duplicates`).
- Stats: turns per dialogue, characters per turn.
- Label Studio: `intent` (Paragraphs in dialogue layout + Choices, into `intent`); the turns
  travel inside the task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.records.base import EvalSpec, RecordType, TaskSpec, object_names

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from hub.dedup import Thresholds, _Keys
    from hub.fingerprints import Prints

__all__ = ["DIALOGUE", "Dialogue"]

PREVIEW_TURNS = 4  # turns of a dialogue the page preview shows unfolded
SPEAKER_CHARS = 12
TURN_CHARS = 300


class Dialogue(RecordType):
    name = "dialogue"
    modality = "dialogue"
    schema = "dialogue"
    group_key = "dialogue_id"
    example = {"dialogue_id": "dlg-0001", "language": "en", "intent": "greeting",
               "turns": [{"speaker": "user", "text": "hello"}, {"speaker": "agent", "text": "hi, how can I help?"}]}
    languages = True
    free_text = (("turns", "text"),)
    pii_default = "reject"  # what people said: personal data is refused unless dataset.yaml says otherwise
    text_sql = "lower(array_to_string(list_transform(turns, lambda t: t.text), ' '))"
    text_columns = ("turns",)
    tasks = (TaskSpec("dialogue", "intent", "intent", "choice", "intent", "dialogue", "choices"),)

    # -- duplicates -----------------------------------------------------------------------

    def duplicates(self, table: pa.Table, keys: _Keys, thresholds: Thresholds, bar: Any, text_hashes: np.ndarray | pa.ChunkedArray | None) -> None:
        from hub.dedup import text_duplicates

        text_duplicates(table, self.name, keys, thresholds, bar, text_hashes)


    band_limit = 200  # as `hub.dedup.MINHASH_BUCKET_LIMIT`: a bucket of more texts is boilerplate

    def fingerprints(self, table: pa.Table, thresholds: Thresholds, rows: int | None = None) -> Prints:
        import numpy as np

        from hub.dedup import _minhash_coefficients, minhash, normalized_texts
        from hub.fingerprints import Prints, band_key, digest

        texts = normalized_texts(table, self.name).to_pylist() if table.num_rows else []
        exact = [None if t is None else digest(t) for t in texts]
        if not thresholds.near:
            return Prints(exact)
        total = len(texts) if rows is None else rows  # the data's, not the batch's
        if total > thresholds.near_text_limit:
            return Prints(exact, skipped=[f"near-text: {total} records exceed near_text_limit {thresholds.near_text_limit}"])
        coefficients, per_band = _minhash_coefficients(thresholds), thresholds.minhash_permutations // thresholds.minhash_bands
        bands, near = [], []
        for text in texts:
            if text is None:
                bands.append([]), near.append(None)
                continue
            shingles, signature = minhash(text, thresholds, coefficients)
            bands.append([band_key(b, signature[b * per_band: (b + 1) * per_band]) for b in range(thresholds.minhash_bands)])
            near.append(np.array(sorted(shingles), dtype=np.uint64).tobytes())
        return Prints(exact, bands, near)

    def near_same(self, ours: bytes, theirs: bytes, thresholds: Thresholds) -> bool:
        """Word shingles with a Jaccard similarity of at least `text_jaccard` (as `duplicates`)."""
        import numpy as np

        from hub.dedup import jaccard

        return jaccard(set(np.frombuffer(ours, np.uint64).tolist()), set(np.frombuffer(theirs, np.uint64).tolist())) >= thresholds.text_jaccard

    # -- stats ----------------------------------------------------------------------------

    def metrics(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        import numpy as np
        import pyarrow.compute as pc

        turns = table.column("turns")  # chunk by chunk: no copy of the texts
        per_row = {"turns": pc.list_value_length(turns).to_numpy(zero_copy_only=False)}
        lengths = pc.utf8_length(pc.struct_field(pc.list_flatten(turns), "text")).to_numpy(zero_copy_only=False)
        starts = np.cumsum([0, *(len(c) for c in turns.chunks)])
        parents = [pc.list_parent_indices(c).to_numpy(zero_copy_only=False) + start for c, start in zip(turns.chunks, starts)]
        per_item = {"turn_chars": (lengths, np.concatenate(parents) if parents else np.array([], np.int64))}
        return per_row, per_item

    # -- pages ----------------------------------------------------------------------------

    def preview(self, row: dict[str, Any], features: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The turns with their speakers (and their nested extra fields, `emotion: calm`); past
        the first `PREVIEW_TURNS` they are folded away (a long dialogue pushed the rest of the
        page down), and a long speaker id (a UUID) is cut to its start, whole in the tooltip."""
        turns = row.get("turns")
        if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
            return {}
        shown = []
        for turn in turns:
            speaker, text = str(turn.get("speaker") or ""), str(turn.get("text") or "")
            extra = ", ".join(f"{k}: {v}" for k, v in turn.items() if k not in ("speaker", "text", "intent") and v is not None)  # nested extra fields
            shown.append({"speaker": speaker, "short": speaker if len(speaker) <= SPEAKER_CHARS else speaker[:SPEAKER_CHARS - 1] + "…",
                          "text": text if len(text) <= TURN_CHARS else text[:TURN_CHARS] + "…",
                          "extra": extra if len(extra) <= TURN_CHARS else extra[:TURN_CHARS] + "…"})
        return {"turns": {"kind": "turns", "turns": shown[:PREVIEW_TURNS], "more": shown[PREVIEW_TURNS:]}}

    # -- Label Studio ---------------------------------------------------------------------

    # Label Studio 1.23's Paragraphs (its contextual-scrolling flag, on by default) stamp every
    # turn with its start and end in the audio it plays along; turns without audio read
    # "00:00:00 - 00:00:00". No attribute turns the stamp off, and the flag off cuts the turns'
    # text; the label config's own Style tag hides it (its CSS-module class, `time--<hash>`).
    # The selector holds no ">": the editor escapes it in a Style's text.
    HIDE_STAMPS = "<Style>.lsf-paragraphs [class^=time--] { display: none; }</Style>"

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        name, value = object_names(spec)
        return f'  {self.HIDE_STAMPS}\n  <Paragraphs name={name} value={value} layout="dialogue" nameKey="speaker" textKey="text"/>'

    def task_columns(self, spec: TaskSpec) -> list[str]:
        return ["turns"]

    def task_data(self, spec: TaskSpec, row: dict[str, Any], channels: list[str] | None) -> tuple[Any, dict[str, Any] | None]:
        return [{"speaker": t["speaker"], "text": t["text"]} for t in row["turns"] or []], None

    # -- evaluation -----------------------------------------------------------------------

    evaluations = (EvalSpec("intent", "intent", "classification"),)


DIALOGUE = Dialogue()

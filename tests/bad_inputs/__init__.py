"""A reusable corpus of bad (and surprising but good) input, one small case per entry.

Every case is a JSONL (or Parquet) source of one record type, built from the real fixtures
(scikit-learn's digit PNGs, espeak-ng WAVs, chatterbot dialogues, BasicMotions windows) with
a few good rows around the bad one, and the exact outcome it must have: each problem's slug,
row, field and message, or none (accepted). `tests/test_bad_input_corpus.py` runs them all.
"""

from bad_inputs.cases import CASES, RECORDS, Built, Case, Materials, dataset_doc, write_source

__all__ = ["CASES", "RECORDS", "Built", "Case", "Materials", "dataset_doc", "write_source"]

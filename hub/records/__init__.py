"""Record types: one module per kind of record (its schema, media decoding, checks and fingerprints)."""

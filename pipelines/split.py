"""DVC stage `split`: split one dataset into .hub/build/<ns>/<name>/ (shards, certificate, stats, plots, card)."""

from hub.stages import main

main("split")

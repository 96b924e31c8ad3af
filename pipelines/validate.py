"""DVC stage `validate`: check one dataset's entry and every record; writes the report (JSON), exits 1 if invalid."""

from hub.stages import main

main("validate")

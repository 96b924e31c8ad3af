"""DVC stage `check`: certify one dataset's build from its files; writes the certificate, exits 1 on a leak."""

from hub.stages import main

main("check")

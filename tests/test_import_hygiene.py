"""The backend layer never imports Textual, Rich or the front end."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("textual", "rich", "vmtui.app", "vmtui.bridge", "vmtui.screens", "vmtui.widgets")

SCRIPT = f"""
import sys
import vmtui.backends, vmtui.backends.fleet, vmtui.backends.merger, vmtui.backends.ring
import vmtui.backends.qemu, vmtui.backends.scripted, vmtui.backends.ssh, vmtui.config
import vmtui.demo, vmtui.guest.build
bad = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r}
             or any(m == f or m.startswith(f + ".") for f in {FORBIDDEN!r}))
print(",".join(bad))
"""


def test_backends_import_no_front_end() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""

"""The async backend layer. Never imports Textual or Rich: usable headless."""

# Importing a VM type registers it.
from vmtui.backends import isolated, libvirt, qemu, scripted  # noqa: F401

"""The async backend layer. Never imports Textual or Rich: usable headless."""

from vmtui.backends import qemu  # noqa: F401  (registers the "qemu" VM type)

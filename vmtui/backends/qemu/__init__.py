"""The QEMU VM type."""

from vmtui.backends.base import register
from vmtui.backends.qemu.config import QemuConfig
from vmtui.backends.qemu.instance import QemuInstance, QemuPool

register("qemu", QemuPool, QemuConfig)

__all__ = ["QemuConfig", "QemuInstance", "QemuPool"]

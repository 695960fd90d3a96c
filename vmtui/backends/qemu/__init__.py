"""The QEMU VM type."""

from vmtui.backends.qemu.config import QemuConfig
from vmtui.backends.qemu.instance import QemuInstance, QemuPool
from vmtui.backends.vm import register

register("qemu", QemuPool, QemuConfig)

__all__ = ["QemuConfig", "QemuInstance", "QemuPool"]

"""The libvirt VM type: domains on any host libvirt manages, through its Python
binding (an optional extra: ``pip install vmtui[libvirt]``)."""

from vmtui.backends.libvirt.config import LibvirtConfig
from vmtui.backends.libvirt.instance import LibvirtInstance
from vmtui.backends.libvirt.pool import LibvirtPool
from vmtui.backends.vm import register

register("libvirt", LibvirtPool, LibvirtConfig)

__all__ = ["LibvirtConfig", "LibvirtInstance", "LibvirtPool"]

"""The isolated VM type: machines reached over SSH that vmtui does not start."""

from vmtui.backends.isolated.config import IsolatedConfig
from vmtui.backends.isolated.instance import IsolatedInstance, IsolatedPool
from vmtui.backends.vm import register

register("isolated", IsolatedPool, IsolatedConfig)

__all__ = ["IsolatedConfig", "IsolatedInstance", "IsolatedPool"]

"""The errors of the backend layer: one root, a class for each thing the caller
does differently (syzkaller's BootError/InfraError; qemu.qmp's StateError)."""

from __future__ import annotations


class VMError(Exception):
    """Root of the errors raised by the backend layer."""


class BootError(VMError):
    """An instance did not come up; carries the console output seen so far."""

    def __init__(self, message: str, output: bytes = b"") -> None:
        super().__init__(message)
        self.output = output


class InfraError(VMError):
    """The host side failed (missing binary, no KVM, cannot bind a port)."""

    def __init__(self, message: str, output: bytes = b"") -> None:
        super().__init__(message)
        self.output = output


class StateError(VMError):
    """An operation was asked of an instance in a state that does not allow it."""

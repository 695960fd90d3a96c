"""Buttons that diagnose a stuck guest; each posts a request, never calls a backend."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button

# (action id, label): the screen runs them through the bridge.
LINUX_ACTIONS = (
    ("sysrq-t", "SysRq t"), ("sysrq-w", "SysRq w"), ("sysrq-l", "SysRq l"),
    ("sysrq-m", "SysRq m"), ("sysrq-c", "SysRq c"),
)
BSD_ACTIONS = (("ddb", "ddb sequence"),)
COMMON_ACTIONS = (("registers", "Registers"), ("nmi", "NMI"), ("diagnose", "Diagnose now"),
                  ("hold", "Hold + gdb"))


class DiagnoseBar(Horizontal):
    """A row of diagnose buttons."""

    class Requested(Message):
        """The user asked for a diagnose action."""

        def __init__(self, bar: DiagnoseBar, action: str) -> None:
            super().__init__()
            self.bar = bar
            self.action = action

        @property
        def control(self) -> DiagnoseBar:
            return self.bar

    DEFAULT_CSS = """
    DiagnoseBar { height: auto; padding: 0 1; }
    DiagnoseBar Button { min-width: 8; height: 1; border: none; margin-right: 1; }
    """

    def __init__(self, os: str = "linux") -> None:
        super().__init__()
        self.os = os

    def compose(self) -> ComposeResult:
        own = LINUX_ACTIONS if self.os == "linux" else BSD_ACTIONS
        for action, label in own + COMMON_ACTIONS:
            yield Button(label, id=f"diag-{action}", compact=True,
                         variant="error" if action == "sysrq-c" else "default")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id:
            self.post_message(self.Requested(self, event.button.id.removeprefix("diag-")))

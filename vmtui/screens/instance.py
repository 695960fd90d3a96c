"""The instance screen: one instance's state and its live console."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from vmtui.bridge import Bridge
from vmtui.widgets.console_view import ConsoleView
from vmtui.widgets.pool_table import format_uptime


class InstanceScreen(Screen[None]):
    """Shows one instance: a status line and its console pane."""

    HELP_TITLE = "Keys: instance"
    BINDINGS = [
        Binding("q,escape", "app.pop_screen", "Back"),
        Binding("end", "follow", "Follow tail"),
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    def __init__(self, bridge: Bridge, name: str) -> None:
        super().__init__()
        self.bridge = bridge
        self.instance_name = name

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="instance-status")
        yield ConsoleView(max_lines=self.bridge.fleet.config.pool.console_lines,
                          id="console")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "vmtui"
        self.sub_title = self.instance_name
        self.query_one(ConsoleView).focus()

    def on_screen_resume(self) -> None:
        self.bridge.subscribe_pool(self)
        self.bridge.subscribe_console(self, self.instance_name)

    def on_screen_suspend(self) -> None:
        self.bridge.unsubscribe_pool(self)
        self.bridge.unsubscribe_console(self)

    def on_unmount(self) -> None:
        self.bridge.unsubscribe_pool(self)
        self.bridge.unsubscribe_console(self)

    def on_bridge_console_batch(self, message: Bridge.ConsoleBatch) -> None:
        view = self.query_one(ConsoleView)
        if message.missed:
            view.write_lines([("vmtui", f"[{message.missed} lines not shown: "
                                        "they are in the log on disk]")])
        view.write_lines((line.source, line.text) for line in message.lines)

    def on_bridge_pool_updated(self, message: Bridge.PoolUpdated) -> None:
        snap = next((s for s in message.snapshots if s.name == self.instance_name), None)
        if snap is None:
            return
        status = Text()
        status.append(f" {snap.name} ", style="bold")
        status.append(f" {snap.state.value} ", style="reverse")
        status.append(f"  up {format_uptime(snap.uptime)}  {snap.lines} lines  ")
        status.append(f"log: {snap.workdir / 'console.log'}", style="dim")
        if snap.error:
            status.append(f"\n {snap.error}", style="italic")
        self.query_one("#instance-status", Static).update(status)

    def action_follow(self) -> None:
        self.query_one(ConsoleView).scroll_end(animate=False)

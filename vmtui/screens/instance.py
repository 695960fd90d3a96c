"""The instance screen: the live console beside the QMP inspectors."""

from __future__ import annotations

import re

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static

from vmtui.bridge import DESTRUCTIVE_SYSRQ, SYSRQ, Bridge, InstanceSnapshot, VMError
from vmtui.screens.confirm import ConfirmScreen
from vmtui.screens.lifecycle import LIFECYCLE_BINDINGS, LifecycleMixin, show_boot_output
from vmtui.screens.search_jump import goto_line
from vmtui.widgets.console_view import ConsoleView
from vmtui.widgets.diagnose_bar import DiagnoseBar
from vmtui.widgets.inert import inert_text
from vmtui.widgets.inspector import Inspector
from vmtui.widgets.pool_table import format_uptime


class InstanceScreen(LifecycleMixin, Screen[None]):
    """One instance: status line, console, inspector tabs, diagnose buttons."""

    HELP_TITLE = "Keys: instance"
    BINDINGS = [
        Binding("q,escape", "back", "Back"),
        Binding("a", "attach", "Attach console"),
        Binding("slash", "prompt('search')", "Search", key_display="/"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "next_match(True)", "Previous match", key_display="N", show=False),
        Binding("ampersand", "prompt('filter')", "Filter lines", key_display="&"),
        Binding("end,G", "follow", "Follow tail", show=False),
        Binding("p", "pause_follow", "Pause scrolling", show=False),
        Binding("t", "toggle_view('show_time')", "Timestamps", show=False),
        Binding("o", "toggle_view('show_source')", "Sources", show=False),
        Binding("s", "save", "Save console"),
        Binding("i", "toggle_inspector", "Inspector"),
        Binding("h", "hold", "Hold + gdb", show=False),
        Binding("y", "copy_gdb", "Copy the gdb command", show=False),
        Binding("S", "take_snapshot", "Take snapshot", key_display="S", show=False),
        Binding("L", "restore_snapshot", "Restore snapshot", key_display="L", show=False),
        Binding("I", "incidents", "Incidents", key_display="I", show=False),
        Binding("C", "app.crashes", "Crashes", key_display="C", show=False),
        Binding("B", "boot_output", "Boot output", key_display="B", show=False),
        Binding("F", "app.search_consoles", "Search every console", key_display="F",
                show=False),
        *LIFECYCLE_BINDINGS,
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    DEFAULT_CSS = """
    InstanceScreen #instance-body { height: 1fr; }
    InstanceScreen #console-pane { width: 3fr; }
    InstanceScreen #inspector { width: 2fr; min-width: 30; border-left: solid $primary-background; }
    InstanceScreen #console-banner {
        display: none; height: 1; background: $accent; color: $text; text-align: center;
    }
    InstanceScreen #console-banner.-shown { display: block; }
    InstanceScreen #console-input { display: none; }
    InstanceScreen #console-input.-shown { display: block; }
    InstanceScreen ConsoleView.-attached { border: tall $warning; }
    """

    def __init__(self, bridge: Bridge, name: str, *,
                 at: tuple[float, str] | None = None) -> None:
        super().__init__()
        self._at = at  # (time, text) of a line to highlight once it arrives
        self.bridge = bridge
        self.instance_name = name
        self.pool_info = bridge.pool_of(name)
        self._prompt = "search"
        self._inspect_timer: Timer | None = None
        self._snap: InstanceSnapshot | None = None
        self._status = Text()  # what the status line shows

    def selected_instance(self) -> str | None:
        return self.instance_name

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="instance-status")
        with Horizontal(id="instance-body"):
            with Vertical(id="console-pane"):
                yield ConsoleView(max_lines=self.pool_info.console_lines, id="console")
                yield Static(id="console-banner")
                yield Input(id="console-input")
            yield Inspector(id="inspector")
        yield DiagnoseBar(self.pool_info.os)
        yield Footer()

    @property
    def view(self) -> ConsoleView:
        return self.query_one(ConsoleView)

    def on_mount(self) -> None:
        self.title = "vmtui"
        self.sub_title = self.instance_name
        self.view.focus()
        self.watch(self.view, "unseen", self._show_banner)
        self.watch(self.view, "attached", lambda _: self._refresh_status())
        if self.size.width < 100:
            self.query_one(Inspector).display = False

    # -- visible or not --------------------------------------------------------

    def on_screen_resume(self) -> None:
        self.bridge.subscribe_pool(self)
        self.bridge.subscribe_console(self, self.instance_name)
        self._inspect_timer = self.set_interval(1.0, self.refresh_inspector, name="inspect")
        self.refresh_inspector()

    def on_screen_suspend(self) -> None:
        self._stop_polling()

    def on_unmount(self) -> None:
        self._stop_polling()
        self.bridge.forget(self)

    def _stop_polling(self) -> None:
        self.bridge.unsubscribe_pool(self)
        self.bridge.unsubscribe_console(self)
        if self._inspect_timer is not None:
            self._inspect_timer.stop()
            self._inspect_timer = None

    # -- data from the bridge --------------------------------------------------

    def on_bridge_console_batch(self, message: Bridge.ConsoleBatch) -> None:
        if message.missed:
            self.view.write("vmtui", f"[{message.missed} lines not shown: they are in "
                                     "the log on disk]")
        self.view.write_lines(message.lines, message.pending)
        message.ack()
        if self._at is not None and message.lines:
            self._at = goto_line(self, self.view, self._at, message.lines)

    def on_bridge_pool_updated(self, message: Bridge.PoolUpdated) -> None:
        self._snap = next((s for s in message.snapshots if s.name == self.instance_name), None)
        self._refresh_status()

    def _refresh_status(self) -> None:
        snap = self._snap
        if snap is None:
            return
        down = self.bridge.connection()
        # Never the last state seen as if it were live (as the pool screen's header).
        self.title = "vmtui · DISCONNECTED" if down else "vmtui"
        status = Text(f" {down}: the console and the state are the last seen \n",
                      style="bold white on red") if down else Text()
        status.append(f" {snap.name} ", style="bold")
        status.append(f" {snap.state.value} ", style="reverse")
        status.append(f"  up {format_uptime(snap.uptime)}  {snap.lines} lines  ")
        if self.view.attached:
            status.append(" ATTACHED: keys go to the guest, ctrl+] detaches ",
                          style="bold reverse")
            status.append("  ")
        if snap.hung_in is not None:
            status.append(f"hung in {format_uptime(snap.hung_in)}  ")
        status.append(f"log: {snap.workdir / 'console.log'}", style="dim")
        c = snap.counters
        if self.pool_info.farm and c is not None:
            status.append(f"\n {snap.phase or 'farm'} · rounds {c.rounds} · crashes "
                          f"{c.crashes} · boots {c.boots} · restarts {c.restarts} · since boot "
                          f"{format_uptime(snap.since_boot)} · booting/workload "
                          f"{format_uptime(c.booting_seconds)}/"
                          f"{format_uptime(c.workload_seconds)}", style="italic")
        # Titles, errors and faults may quote the guest: the inert path only.
        if snap.title:
            status.append("\n ")
            status.append_text(inert_text(f"{snap.title} ", style="bold reverse"))
        elif snap.error:
            status.append("\n ")
            status.append_text(inert_text(snap.error, style="italic"))
            if snap.boot_output:
                status.append("  B: boot output", style="dim")
        if snap.fault:
            status.append("\n ")
            status.append_text(inert_text(f"⚠ {snap.fault}", style="bold"))
        if snap.gdb:
            status.append(f"\n held · {snap.gdb}", style="bold")
            status.append("  y: copy", style="dim")
        if status != self._status:  # unchanged: no repaint
            self._status = status
            self.query_one("#instance-status", Static).update(status)

    def _show_banner(self, unseen: int) -> None:
        banner = self.query_one("#console-banner", Static)
        banner.set_class(unseen > 0, "-shown")
        banner.update(f"▼ {unseen} new line{'s' if unseen != 1 else ''} · End follows")

    def refresh_inspector(self) -> None:
        inspector = self.query_one(Inspector)
        if inspector.display and self.bridge.is_up(self.instance_name):
            self._inspect(inspector.current)

    @work(exclusive=True, group="inspect", exit_on_error=False)
    async def _inspect(self, tab: str) -> None:
        try:
            table = await self.bridge.inspect(self.instance_name, tab)
        except VMError:
            return  # stopped meanwhile; the state line says so
        self.query_one(Inspector).show(tab, table)

    def on_tabbed_content_tab_activated(self) -> None:
        self.refresh_inspector()

    # -- console ---------------------------------------------------------------

    def on_console_view_input(self, message: ConsoleView.Input) -> None:
        self.bridge.type_into(self.instance_name, message.data)

    def on_console_view_detached(self) -> None:
        self.notify("Detached from the console")

    def action_attach(self) -> None:
        self.view.attached = True
        self.view.focus()
        self.notify("Attached: keys go to the guest's console; ctrl+] detaches")

    def action_follow(self) -> None:
        self.view.scroll_to_tail()

    def action_pause_follow(self) -> None:
        self.view.pause()

    def action_toggle_view(self, option: str) -> None:
        setattr(self.view, option, not getattr(self.view, option))

    def action_toggle_inspector(self) -> None:
        inspector = self.query_one(Inspector)
        inspector.display = not inspector.display
        self.refresh_inspector()

    def action_prompt(self, mode: str) -> None:
        self._prompt = mode
        box = self.query_one("#console-input", Input)
        box.placeholder = ("search (regex): Enter finds, n/N move, empty clears"
                           if mode == "search" else "filter lines (regex): empty shows all")
        box.value = ""
        box.add_class("-shown")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        box = event.input
        box.remove_class("-shown")
        self.view.focus()
        try:
            if self._prompt == "search":
                found = self.view.set_search(event.value)
                if event.value:
                    self.notify(f"{found} matching line{'s' if found != 1 else ''}")
            else:
                shown = self.view.set_filter(event.value)
                if event.value:
                    self.notify(f"filter /{event.value}/: {shown} lines")
        except re.error as exc:
            self.notify(f"not a regular expression: {exc}", severity="error")

    def action_next_match(self, backwards: bool = False) -> None:
        if self.view.next_match(backwards) is None:
            self.notify("no match")

    def action_save(self) -> None:
        self.run_worker(self._save(self.view.shown_lines()), group="save", exit_on_error=False)

    async def _save(self, lines: list[str]) -> None:
        try:
            path = await self.bridge.save_console(self.instance_name, lines)
        except VMError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.notify(f"saved {len(lines)} lines to {path}")
        self.saved_to = path

    def action_back(self) -> None:
        box = self.query_one("#console-input", Input)
        if box.has_class("-shown"):
            box.remove_class("-shown")
            self.view.focus()
            return
        self.app.pop_screen()

    def on_diagnose_bar_requested(self, message: DiagnoseBar.Requested) -> None:
        action = message.action
        if action == "hold":
            self.action_hold()
        elif action.removeprefix("sysrq-") in DESTRUCTIVE_SYSRQ and action.startswith("sysrq-"):
            def answered(yes: bool | None) -> None:
                if yes:
                    self.bridge.diagnose(self.instance_name, action)

            self.app.push_screen(ConfirmScreen(
                f"SysRq {action[-1]} on {self.instance_name}: "
                f"{SYSRQ.get(action[-1], 'destructive')}. Go on?"), answered)
        else:
            self.bridge.diagnose(self.instance_name, action)

    def action_hold(self) -> None:
        self.bridge.hold(self.instance_name)

    def action_copy_gdb(self) -> None:
        """Copy the held instance's gdb command (OSC 52: the terminal's clipboard)."""
        if self._snap is None or not self._snap.gdb:
            self.notify("not held: h holds it and opens its gdb stub", severity="warning")
            return
        self.app.copy_to_clipboard(self._snap.gdb)
        self.notify("gdb command copied")

    def action_take_snapshot(self) -> None:
        try:
            self.bridge.take_snapshot(self.instance_name)
        except VMError as exc:
            self.notify(str(exc), severity="error", timeout=8)

    def action_restore_snapshot(self) -> None:
        """Restore the snapshot highlighted in the Snapshots tab, once confirmed."""
        inspector = self.query_one(Inspector)
        row = inspector.selected_row("snapshots") if inspector.current == "snapshots" else None
        if row is None:
            inspector.display = True
            inspector.show_tab("snapshots")
            self.refresh_inspector()
            self.notify("pick a snapshot in the Snapshots tab, then L again")
            return
        tag = row[0]

        def answered(yes: bool | None) -> None:
            if yes:
                try:
                    self.bridge.restore_snapshot(self.instance_name, tag)
                except VMError as exc:
                    self.notify(str(exc), severity="error", timeout=8)

        self.app.push_screen(ConfirmScreen(
            f"Restore {self.instance_name} to snapshot {tag}? Its RAM, devices and disks "
            "go back; what happened since is lost."), answered)

    def action_incidents(self) -> None:
        from vmtui.screens.incidents import IncidentsScreen

        self.app.push_screen(IncidentsScreen(self.bridge, self.instance_name))

    def action_boot_output(self) -> None:
        show_boot_output(self, self.bridge, self.instance_name)

"""The coroutines of :class:`~vmtui.remote.control.RemoteControl`: one REST
call each (docs/api.md), their answers rebuilt by ``wire.from_json``."""

from __future__ import annotations

from pathlib import Path

from vmtui.backends.fleet.control import Action, SearchQuery, SearchResult
from vmtui.backends.fleet.inspection import Table
from vmtui.backends.fleet.wire import from_json, to_json
from vmtui.backends.vm.diagnose import Diagnosis
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.qmp_types import VMSnapshot
from vmtui.remote.errors import NotFound
from vmtui.remote.http import Api, part


async def _text(api: Api, path: str, params: dict[str, str]) -> dict[str, object]:
    """A file's answer; a file the daemon does not have is a VMError, as
    :class:`~vmtui.backends.fleet.control.Control` says (LocalControl's too)."""
    try:
        data = await api.call("GET", path, params=params)
    except NotFound as exc:
        raise VMError(str(exc)) from exc
    if not isinstance(data, dict):
        raise VMError(f"{api.address}: GET {path} answered {type(data).__name__}, "
                      "not an object")
    return data


class RestCalls:
    """Files, tables and actions of the daemon at ``self.api``."""

    api: Api

    # -- files and tables: REST ---------------------------------------------------

    async def boot_output(self, name: str) -> list[str]:
        data = await self.api.call("GET", f"/instances/{part(name)}/boot-output")
        return from_json(data, list[str])  # type: ignore[no-any-return]

    async def crash_report(self, title: str) -> str:
        data = await _text(self.api, "/crashes/report", {"title": title})
        return str(data["text"])

    async def crash_log(self, title: str) -> tuple[str, str]:
        data = await _text(self.api, "/crashes/log", {"title": title})
        return str(data["name"]), str(data["text"])

    async def incident_file(self, folder: Path, file: str) -> str:
        data = await _text(self.api, "/incidents/file", {"folder": str(folder), "file": file})
        return str(data["text"])

    async def inspect(self, name: str, tab: str) -> Table:
        data = await self.api.call("GET", f"/instances/{part(name)}/inspect/{part(tab)}")
        return from_json(data, Table)  # type: ignore[no-any-return]

    async def save_console(self, name: str, lines: list[str]) -> Path:
        """Saved by the daemon: the path is on its machine."""
        data = await self.api.call("POST", f"/instances/{part(name)}/console/save",
                                   body={"lines": lines})
        return Path(data["path"])

    async def search(self, query: SearchQuery) -> SearchResult:
        params: list[tuple[str, str]] = [("pattern", query.pattern),
                                         ("limit", str(query.limit))]
        params += [(key, repr(value)) for key, value in
                   (("since", query.since), ("until", query.until)) if value is not None]
        params += [("source", source) for source in query.sources]
        if query.ignore_case:
            params.append(("ignore_case", "1"))
        data = await self.api.call("GET", "/search", params=params)
        return from_json(data, SearchResult)  # type: ignore[no-any-return]

    # -- driving the VMs: REST ----------------------------------------------------

    async def act(self, action: Action, name: str) -> None:
        await self.api.call("POST", f"/instances/{part(name)}/actions/{Action(action).value}")

    async def diagnose(self, name: str, action: str) -> Diagnosis:
        data = await self.api.call("POST", f"/instances/{part(name)}/diagnose",
                                   body={"action": action})
        return from_json(data, Diagnosis)  # type: ignore[no-any-return]

    async def hold(self, name: str) -> str:
        data = await self.api.call("POST", f"/instances/{part(name)}/hold")
        return str(data["command"])

    async def release(self, name: str) -> None:
        await self.api.call("POST", f"/instances/{part(name)}/release")

    async def vm_snapshots(self, name: str) -> list[VMSnapshot]:
        data = await self.api.call("GET", f"/instances/{part(name)}/snapshots")
        return from_json(data, list[VMSnapshot])  # type: ignore[no-any-return]

    async def take_snapshot(self, name: str, tag: str) -> None:
        await self.api.call("POST", f"/instances/{part(name)}/snapshots", body={"tag": tag})

    async def restore_snapshot(self, name: str, tag: str) -> None:
        await self.api.call("POST", f"/instances/{part(name)}/snapshots/{part(tag)}/restore")

    async def type_into(self, name: str, data: bytes) -> None:
        await self.api.call("POST", f"/instances/{part(name)}/console/input",
                            body={"data": to_json(data)})

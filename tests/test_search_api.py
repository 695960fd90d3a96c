"""The search across consoles through a real ``vmtui serve``: ``GET /api/v1/search``
(plain HTTP and a RemoteControl), and requests it refuses with a 400 naming the field."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.serve_daemon import Daemon, scripted_yaml
from vmtui.backends.fleet.control import SearchQuery, SearchResult
from vmtui.backends.fleet.wire import from_json
from vmtui.backends.vm.errors import VMError
from vmtui.remote.address import parse_address
from vmtui.remote.control import RemoteControl

V1 = "/api/v1"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("search")
    config = scripted_yaml(folder, count=2, lines=["hello from {name}", "needle {index}"])
    with Daemon([config]) as d:
        deadline = time.monotonic() + 30
        while len(from_json(d.get(f"{V1}/search?pattern=needle"), SearchResult).hits) < 2:
            assert time.monotonic() < deadline, "the scripted consoles never reached disk"
            time.sleep(0.1)
        yield d


def test_search_answers_hits_of_every_instance(daemon: Daemon) -> None:
    result = from_json(daemon.get(f"{V1}/search?pattern={quote('needle [0-9]')}"
                                  "&source=console&limit=10"), SearchResult)
    assert sorted((h.instance, h.text, h.source) for h in result.hits) == [
        ("snap-0", "needle 0", "console"), ("snap-1", "needle 1", "console")]
    assert [h.time for h in result.hits] == sorted(h.time for h in result.hits)
    assert result.files == 2 and not result.more
    one = from_json(daemon.get(f"{V1}/search?pattern=needle&limit=1"), SearchResult)
    assert len(one.hits) == 1 and one.more
    # The boot marker is vmtui's own line: the source filter tells them apart.
    own = from_json(daemon.get(f"{V1}/search?pattern=boot&source=vmtui"), SearchResult)
    assert {h.instance for h in own.hits} == {"snap-0", "snap-1"}
    none = from_json(daemon.get(f"{V1}/search?pattern=needle&source=stdout"), SearchResult)
    assert none.hits == []
    later = time.time() + 3600
    assert from_json(daemon.get(f"{V1}/search?pattern=needle&since={later}"),
                     SearchResult).hits == []


@pytest.mark.parametrize(("query", "says"), [
    ("pattern=" + quote("needle ("), "bad pattern 'needle ('"),
    ("", "parameter 'pattern' is missing"),
    ("pattern=x&limit=many", "parameter 'limit' must be a number, not 'many'"),
    ("pattern=x&limit=2.5", "parameter 'limit' must be a whole number"),
    ("pattern=x&limit=0", "limit 0 is not between 1 and"),
    ("pattern=x&since=nan", "parameter 'since' must be a number, not 'nan'"),
    ("pattern=x&since=5&until=1", "ends (1.0) before it begins (5.0)"),
])
def test_bad_requests_name_what_is_wrong(daemon: Daemon, query: str, says: str) -> None:
    status, data = daemon.request("GET", f"{V1}/search?{query}")
    assert status == 400, data
    assert data["error"]["type"] == "BadRequest" and says in data["error"]["message"]


def test_a_read_only_token_may_search_over_tcp(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path, count=1, lines=["ro needle"])
    with Daemon([config], tcp=True) as d:
        path = f"{V1}/search?pattern=ro%20needle"
        assert d.request("GET", path, tcp=True)[0] == 401  # no token: refused
        status, data = d.request("GET", path, tcp=True,
                                 headers={"Authorization": f"Bearer {d.token_ro}"})
        assert status == 200 and set(data) >= {"hits", "more", "files"}, data


async def test_remote_control_searches_through_the_daemon(daemon: Daemon) -> None:
    control = RemoteControl(parse_address(f"unix:{daemon.sock}"))
    await control.connect()
    try:
        result = await control.search(SearchQuery("NEEDLE", ignore_case=True,
                                                  sources=("console",), since=0.0))
        assert sorted(h.text for h in result.hits) == ["needle 0", "needle 1"]
        with pytest.raises(VMError, match=r"bad pattern '\['"):
            await control.search(SearchQuery("["))
    finally:
        await control.close()

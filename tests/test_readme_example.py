"""The README's Python example runs as written (on a scripted farm)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path

import yaml

README = Path(__file__).resolve().parent.parent / "README.md"


async def test_the_python_example_prints_each_crash(tmp_path: Path) -> None:
    block = re.search(r"### The same loop from Python.*?```python\n(.*?)```", README.read_text(),
                      re.S)
    assert block is not None
    code = block.group(1).replace("asyncio.run(main())", "")
    config = tmp_path / "farm.yaml"
    config.write_text(yaml.safe_dump({
        "name": "farm", "type": "scripted", "count": 2, "workdir": str(tmp_path / "work"),
        "workload": {"run": "echo hi; if {index} 1 panic oops", "restart": "never"}}))
    code = code.replace('"farm.yaml"', repr(str(config)))
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        task = asyncio.ensure_future(namespace["main"]())  # type: ignore[operator]
        deadline = asyncio.get_running_loop().time() + 10
        while "farm-1: kernel panic" not in out.getvalue():
            assert asyncio.get_running_loop().time() < deadline, out.getvalue()
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    line = out.getvalue().splitlines()[0]
    assert line.startswith("farm-1: kernel panic: oops -> ")
    assert line.endswith("/report0")

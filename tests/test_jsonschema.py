"""`vmtui schema`: a JSON Schema editors use to complete and check configs as typed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from vmtui.demo import demo_dict

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "vmtui", "schema"], capture_output=True,
                          text=True, check=True)
    found: dict[str, Any] = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(found)
    return found


def problems(schema: dict[str, Any], data: Any) -> list[str]:
    return sorted(e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data))


def test_the_demo_configs_and_the_readme_example_are_valid(schema: dict[str, Any]) -> None:
    for fuzz in (False, True):
        assert problems(schema, yaml.safe_load(yaml.safe_dump(demo_dict(fuzz=fuzz)))) == []
    block = re.search(r"## The config.*?```yaml\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    assert problems(schema, yaml.safe_load(block.group(1))) == []
    scripted = {"name": "s", "type": "scripted", "vm": {"lines": ["boot"], "fail": [1]}}
    assert problems(schema, scripted) == []


def test_mistakes_are_flagged_where_they_are_typed(schema: dict[str, Any]) -> None:
    data = yaml.safe_load(yaml.safe_dump(demo_dict()))
    data["bogus"] = 1
    data["vm"].update(accel="fast", mem="lots", kernal="x")
    data["vm"]["devices"] = [{"kind": "blok", "file": "d.img"}]
    found = problems(schema, data)
    assert "Additional properties are not allowed ('bogus' was unexpected)" in found
    assert "Additional properties are not allowed ('kernal' was unexpected)" in found
    assert "'fast' is not one of ['tcg', 'kvm', 'auto']" in found
    assert "'lots' is not valid under any of the given schemas" in found
    assert len(found) == 5  # and the unknown device kind
    scripted = {"name": "s", "type": "scripted", "vm": {"kernel": "x"}}
    assert problems(schema, scripted) == [
        "Additional properties are not allowed ('kernel' was unexpected)"]

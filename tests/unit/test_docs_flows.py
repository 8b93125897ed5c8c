"""docs/flows.md: every included file is the file it names, byte for byte; every python block parses."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "flows.md").read_text()
INCLUDE = re.compile(r"<!-- include: (?P<path>\S+) -->\n```python\n(?P<body>.*?)```\n", re.S)


def test_the_tutorial_includes_the_files_it_names_verbatim():
    included = {m["path"]: m["body"] for m in INCLUDE.finditer(DOC)}
    assert set(included) == {
        "workflows/examples/tutorial.py",
        "tests/integration/test_tutorial.py",
        "workflows/examples/kyc_onboarding.py",
    }
    for path, body in included.items():
        assert body == (ROOT / path).read_text(), f"docs/flows.md is out of date with {path}"


def test_every_python_block_parses():
    blocks = re.findall(r"```python\n(.*?)```", DOC, re.S)
    assert len(blocks) >= 6
    for block in blocks:
        ast.parse(block if not block.startswith(" ") else "if 1:\n" + block)

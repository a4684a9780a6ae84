"""The client is its own package: it imports nothing from Django or the server's code."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

SERVER = ("django", "rest_framework", "celery", "annotate", "rewards", "config", "webhooks")
CLIENT = ROOT / "client" / "prefloop_client"


def _imported(path: str) -> set[str]:
    tree = ast.parse((CLIENT / path).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_client_module_names_the_server() -> None:
    modules = sorted(p.name for p in CLIENT.glob("*.py"))
    assert "client.py" in modules
    for module in modules:
        assert not _imported(module) & set(SERVER), module


def test_importing_the_client_loads_no_server_code() -> None:
    # given: a fresh interpreter outside the repository (only the installed package)
    code = (
        "import sys, prefloop_client, prefloop_client.data, prefloop_client.webhooks;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SERVER!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"

"""Golden text files: printed graphs checked in under ``tests/printing/golden/``.

``check_golden(name, text)`` compares ``text`` with ``golden/<name>.txt``.  Run the
tests with ``THEANINE_REGEN_GOLDEN=1`` to (re)write the files after an intended
change, then review the diff with ``git diff tests/printing/golden``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"


def regenerating() -> bool:
    return os.environ.get("THEANINE_REGEN_GOLDEN", "") not in ("", "0")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / f"{name}.txt"
    text = text if text.endswith("\n") else text + "\n"
    if regenerating():
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        raise AssertionError(f"no golden file {path}; create it with THEANINE_REGEN_GOLDEN=1 "
                             f"and review it. The text was:\n{text}")
    expected = path.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"golden/{name}.txt", "printed now"))
        raise AssertionError(f"{name} differs from its golden file (regenerate with "
                             f"THEANINE_REGEN_GOLDEN=1 if the change is intended):\n{diff}")

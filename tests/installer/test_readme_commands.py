"""The README's commands are the ones CI runs: the test command, word for word, and the torch
and torchvision versions of the CPU install."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sh_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|powershell)\n(.*?)```", text, re.S)


def test_ci_runs_the_readme_test_command_and_its_torch_versions() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    blocks = _sh_blocks(readme)
    test_command = 'python -m pip install -e ".[test]" && python -m pytest'
    assert any(block.strip() == test_command for block in blocks)
    assert test_command in ci.splitlines()
    start_command = "python -m pip install -e . && python main.py"
    assert any(block.strip() == start_command for block in blocks)

    pins = re.findall(r'"(torch(?:vision)?==[\d.]+)"', ci)
    cpu = [b for b in blocks if "download.pytorch.org/whl/cpu" in b]
    assert pins and cpu
    for pin in pins:
        assert f'"{pin}"' in cpu[0]


def test_the_readme_names_menus_the_window_has() -> None:
    from sneakerstudio.qt.actions import MENUS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    texts: dict[str, set[str]] = {}
    for title, items in MENUS:
        names = {getattr(item, "text", "") for item in items}
        texts[title.replace("&", "")] = {n.replace("&", "") for n in names if n}
    for menu, entry in re.findall(r"\*\*(\w+) → ([^*]+)\*\*", readme):
        assert menu in texts, f"README names a menu {menu!r} the window does not have"
        assert entry in texts[menu], f"README names {menu} → {entry!r}; the menu has {texts[menu]}"


def test_the_readme_screenshots_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shots = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert len(shots) >= 2
    for shot in shots:
        assert (ROOT / shot).is_file(), shot

"""Keeps the README's settings table in step with the Settings class."""

from __future__ import annotations

import re
from pathlib import Path

from geowarn.settings import settings_table

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def render(readme: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(f"{START}\n{settings_table()}\n{END}", readme)


if __name__ == "__main__":
    path = Path(__file__).resolve().parents[1] / "README.md"
    path.write_text(render(path.read_text()))

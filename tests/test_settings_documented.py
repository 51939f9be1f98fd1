"""Every setting a user can set is documented where users look: the README."""

from __future__ import annotations

import re
from pathlib import Path

import racesense.settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_environment_variable_is_in_the_readme() -> None:
    source = Path(racesense.settings.__file__).read_text()
    names = set(re.findall(r'"(RACESENSE_[A-Z_]+)"', source))
    assert len(names) >= 10  # the probe found the settings
    readme = (ROOT / "README.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in readme) == []

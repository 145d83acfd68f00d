"""docs/configuration.md documents every key the loader accepts, with its
default, so the reference cannot drift from the declarations in
vanet.node.config (regenerate with ``python -m vanet.node.config
docs/configuration.md``)."""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.node.config import (
    REFERENCE_BEGIN,
    REFERENCE_END,
    SCHEMA,
    reference_markdown,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


class ConfigurationDocTests(SynchronousTestCase):
    def test_every_key_is_documented_with_its_default(self) -> None:
        text = DOC.read_text()
        sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
        documented = {}
        for block in sections:
            name = re.match(r"`\[(\w+)\]`", block).group(1)
            rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", block, flags=re.MULTILINE)
            documented[name] = {key: default.strip() for key, default in rows}
        self.assertEqual(set(documented), set(SCHEMA))
        for section, settings in SCHEMA.items():
            self.assertEqual(set(documented[section]), set(settings), section)
            for key, setting in settings.items():
                expected = (
                    "required"
                    if setting.required
                    else f"`{setting.default_text}`"
                    if setting.default_text is not None
                    else "—"
                )
                self.assertEqual(
                    documented[section][key], expected, f"[{section}] {key}"
                )

    def test_the_reference_is_the_generated_one(self) -> None:
        text = DOC.read_text()
        generated = text.split(REFERENCE_BEGIN, 1)[1].split(REFERENCE_END, 1)[0]
        self.assertEqual(
            generated.strip(),
            reference_markdown().strip(),
            "docs/configuration.md is stale: run "
            "python -m vanet.node.config docs/configuration.md",
        )

"""docs/plugins.md: its complete example plugin is discovered and works."""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.interfaces import IRoutingStrategy
from vanet.node.testing import heartbeat_view, install_temporary_plugin

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
TABLE_MEMBER = re.compile(r"^\| `(\w+)", re.M)


def example_blocks() -> tuple[str, str, str]:
    """(module name, plugin source, usage source) from the document."""
    blocks = BLOCK.findall(DOC.read_text())
    plugins = [b for b in blocks if b.startswith("# vanet/plugins/")]
    if len(plugins) != 1 or len(blocks) < 2:
        raise AssertionError(f"{DOC}: expected one plugin example and a usage block")
    plugin = plugins[0]
    module = re.match(r"# vanet/plugins/(\w+)\.py", plugin).group(1)
    usage = blocks[blocks.index(plugin) + 1]
    return module, plugin, usage


class PluginDocTests(SynchronousTestCase):
    def test_example_plugin_runs(self):
        module, plugin, usage = example_blocks()
        install_temporary_plugin(self, module, plugin)
        namespace: dict = {}
        exec(compile(usage, f"{DOC}:usage", "exec"), namespace)
        core = namespace["core"]
        self.assertEqual(core.strategy.name, "nearest-first")
        rsu = bytes.fromhex("020000000001")
        far, near = bytes.fromhex("020000000011"), bytes.fromhex("020000000012")
        core.on_message(heartbeat_view(far, rsu, 1, hops=3, duration_ms=1000), 1.0)
        self.assertEqual(core.upstream, far)
        # A copy over another path counts at the next tick.
        core.on_message(heartbeat_view(near, rsu, 1, hops=2, duration_ms=1000), 1.2)
        core.tick(1.25)
        self.assertEqual(core.upstream, near)  # fewer hops, though slower
        self.assertEqual(core.upstream_candidates, [near, far])

    def test_contract_table_lists_every_member_of_the_interface(self):
        text = DOC.read_text()
        contract = text[text.index("## The contract") : text.index("## A complete")]
        self.assertEqual(
            sorted(TABLE_MEMBER.findall(contract)), sorted(IRoutingStrategy.names())
        )

"""twistd ``vanet-obu``: ``Options`` and ``makeService``."""

from vanet.node.plugin_options import obu

Options = obu.Options
makeService = obu.makeService

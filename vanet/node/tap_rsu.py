"""twistd ``vanet-rsu``: ``Options`` and ``makeService``."""

from vanet.node.plugin_options import rsu

Options = rsu.Options
makeService = rsu.makeService

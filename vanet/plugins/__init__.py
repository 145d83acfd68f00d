"""Plugin package for routing strategies.

Other distributions may drop modules into ``vanet/plugins/`` (with no
``__init__.py`` of their own); ``pluginPackagePaths`` makes Twisted's plugin
scan find them on every ``sys.path`` entry.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []

"""The serializer registry: ``IFrameWriter`` implementations per message
kind and path, held in a zope.interface adapter registry.

The zero-copy writers are the registered defaults; the legacy object-tree
path is registered beside them under ``path="legacy"``. A plugin can
register another path with ``register_writer``.
"""

from __future__ import annotations

from collections.abc import Callable

from zope.interface import implementer
from zope.interface.adapter import AdapterRegistry

from vanet.interfaces import IFrameWriter
from vanet.wire import legacy, writers

#: every frame a node writes: the six messages, and relaying each kind but
#: the plain reply (forwarded with the reply writer)
WRITER_KINDS = tuple(writers.WRITERS)

ZERO_COPY = "zero-copy"
LEGACY = "legacy"

_registry = AdapterRegistry()


@implementer(IFrameWriter)
class FunctionWriter:
    """An ``IFrameWriter`` whose ``write`` is a plain function.

    ``write`` is stored on the instance, so calling it costs one call, not
    a bound-method hop.
    """

    __slots__ = ("kind", "path", "write")

    def __init__(self, kind: str, path: str, write: Callable[..., int]) -> None:
        self.kind = kind
        self.path = path
        self.write = write

    def __repr__(self) -> str:
        return f"<FunctionWriter {self.kind} ({self.path})>"


def _key(kind: str, path: str) -> str:
    return f"{path}:{kind}"


def register_writer(writer) -> None:
    """Register an ``IFrameWriter`` under its ``kind`` and ``path``."""
    # verifyObject cannot check ``write``: its arguments differ per kind.
    if not IFrameWriter.providedBy(writer) or not callable(
        getattr(writer, "write", None)
    ):
        raise TypeError(
            f"{writer!r} does not provide IFrameWriter with a callable write"
        )
    _registry.register([], IFrameWriter, _key(writer.kind, writer.path), writer)


def unregister_writer(kind: str, path: str) -> None:
    """Remove the writer for ``kind`` on ``path``; raise ``LookupError`` if
    there is none. For plugins that unload, and tests that clean up."""
    key = _key(kind, path)
    if _registry.lookup([], IFrameWriter, key) is None:
        raise LookupError(f"no frame writer for kind {kind!r} on path {path!r}")
    _registry.unregister([], IFrameWriter, key)


def writer_for(kind: str, path: str = ZERO_COPY):
    """The registered ``IFrameWriter`` for ``kind`` on ``path``.

    Raise ``LookupError`` naming the kinds and paths that exist.
    """
    writer = _registry.lookup([], IFrameWriter, _key(kind, path))
    if writer is None:
        known = sorted(name for name, _ in _registry.lookupAll([], IFrameWriter))
        raise LookupError(
            f"no frame writer for kind {kind!r} on path {path!r}; registered: {', '.join(known)}"
        )
    return writer


def registered() -> list[tuple[str, str]]:
    """(path, kind) of every registered writer."""
    return sorted(
        tuple(name.split(":", 1)) for name, _ in _registry.lookupAll([], IFrameWriter)
    )


for _path, _table in ((ZERO_COPY, writers.WRITERS), (LEGACY, legacy.WRITERS)):
    for _kind, _function in _table.items():
        register_writer(FunctionWriter(_kind, _path, _function))

"""The serializer registry: lookups, errors, and a plugin's own path."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

import vanet.wire
from vanet.interfaces import IFrameWriter
from vanet.wire import (
    LEGACY,
    ZERO_COPY,
    parse,
    register_writer,
    registered,
    unregister_writer,
    writer_for,
    writers,
)
from vanet.wire import legacy as wire_legacy
from vanet.wire.registry import FunctionWriter

WRITER_KINDS = (
    "heartbeat",
    "heartbeat_forward",
    "heartbeat_reply",
    "upstream",
    "upstream_forward",
    "downstream",
    "downstream_forward",
    "signed_heartbeat",
    "signed_heartbeat_forward",
    "signed_heartbeat_reply",
    "signed_heartbeat_reply_forward",
)
OBU = bytes.fromhex("020000000011")
RSU = bytes.fromhex("020000000001")


class LookupTests(SynchronousTestCase):
    def test_the_kinds_are_these(self):
        # A new kind is added here on purpose; none goes missing.
        self.assertEqual(vanet.wire.WRITER_KINDS, WRITER_KINDS)

    def test_every_kind_on_both_paths(self):
        expected = {
            (path, kind) for path in (ZERO_COPY, LEGACY) for kind in WRITER_KINDS
        }
        self.assertTrue(expected <= set(registered()))
        for path, kind in expected:
            writer = writer_for(kind, path)
            # verifyObject cannot judge write(): its arguments differ per kind.
            self.assertTrue(IFrameWriter.providedBy(writer))
            self.assertTrue(callable(writer.write))
            self.assertEqual((writer.kind, writer.path), (kind, path))

    def test_zero_copy_is_the_default(self):
        for kind in WRITER_KINDS:
            self.assertIs(writer_for(kind), writer_for(kind, ZERO_COPY))
            self.assertIs(writer_for(kind).write, getattr(writers, f"write_{kind}"))
            self.assertIs(
                writer_for(kind, LEGACY).write, getattr(wire_legacy, f"write_{kind}")
            )

    def test_unknown_kind_names_what_exists(self):
        with self.assertRaises(LookupError) as caught:
            writer_for("hearbeat")
        message = str(caught.exception)
        self.assertIn("'hearbeat'", message)
        self.assertIn("zero-copy:heartbeat", message)

    def test_unknown_path(self):
        with self.assertRaises(LookupError) as caught:
            writer_for("heartbeat", "no-such-path")
        self.assertIn("'no-such-path'", str(caught.exception))
        self.assertIn("legacy:heartbeat", str(caught.exception))

    def test_register_rejects_a_non_writer(self):
        class NotAWriter:
            kind, path = "heartbeat", "broken"

            def write(self, buf, *args):
                return 0

        self.assertRaises(TypeError, register_writer, NotAWriter())
        self.assertRaises(
            TypeError, register_writer, FunctionWriter("heartbeat", "broken", None)
        )
        self.assertRaises(LookupError, writer_for, "heartbeat", "broken")

    def test_unregister_unknown(self):
        self.assertRaises(LookupError, unregister_writer, "heartbeat", "no-such-path")


@implementer(IFrameWriter)
class CountingUpstreamWriter:
    """What a plugin might register: another path for one kind, here one
    that counts frames and delegates to the zero-copy writer."""

    kind = "upstream"
    path = "counting"

    def __init__(self):
        self.frames = 0

    def write(self, buf, origin, payload, src, dst):
        self.frames += 1
        return writers.write_upstream(buf, origin, payload, src, dst)


class PluginPathTests(SynchronousTestCase):
    def test_plugin_registers_a_path(self):
        writer = CountingUpstreamWriter()
        register_writer(writer)
        self.addCleanup(unregister_writer, "upstream", "counting")

        self.assertIs(writer_for("upstream", "counting"), writer)
        self.assertIn(("counting", "upstream"), registered())
        buf = bytearray()
        n = writer_for("upstream", "counting").write(buf, OBU, b"inner", OBU, RSU)
        self.assertEqual(writer.frames, 1)
        (view,) = parse(buf[:n])
        self.assertEqual((view.kind, view.origin), ("upstream", OBU))
        self.assertEqual(bytes(view.payload), b"inner")
        # The defaults are untouched by another path.
        self.assertIs(writer_for("upstream").write, writers.write_upstream)

    def test_plugin_replaces_and_restores_a_writer(self):
        original = writer_for("upstream", ZERO_COPY)
        replacement = FunctionWriter(
            "upstream", ZERO_COPY, lambda buf, *args: original.write(buf, *args)
        )
        register_writer(replacement)
        self.addCleanup(register_writer, original)
        self.assertIs(writer_for("upstream"), replacement)

    def test_unregister_removes_the_path(self):
        register_writer(CountingUpstreamWriter())
        unregister_writer("upstream", "counting")
        self.assertRaises(LookupError, writer_for, "upstream", "counting")
        self.assertNotIn(("counting", "upstream"), registered())

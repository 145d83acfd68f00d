"""The routing cores and data planes as the node engine sees them: their
interfaces (``IRoutingCore``, ``IDataPlane``) for both roles, and the
sans-I/O promise that importing them loads no Twisted (docs/architecture.md)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import vanet.dataplane
import vanet.routing
from vanet.crypto import IdentityCodec
from vanet.dataplane import ObuDataPlane, RsuDataPlane
from vanet.discovery import load_strategy
from vanet.interfaces import IDataPlane, IRoutingCore, IRoutingStrategy
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore

MAC = bytes.fromhex("020000000001")


def submodules(package) -> list[str]:
    return [
        m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]


class InterfaceTests(SynchronousTestCase):
    def cores(self):
        strategy = load_strategy()
        return {
            "obu": ObuRoutingCore(MAC, strategy),
            "rsu": RsuRoutingCore(MAC, strategy, started=0.0),
        }

    def test_both_routing_cores_provide_the_interface(self):
        for role, core in self.cores().items():
            with self.subTest(role=role):
                self.assertTrue(verifyObject(IRoutingCore, core))
                self.assertEqual(core.role, role)
                self.assertTrue(verifyObject(IRoutingStrategy, core.strategy))

    def test_both_data_planes_provide_the_interface(self):
        cores = self.cores()
        planes = {
            "obu": ObuDataPlane(MAC, cores["obu"], IdentityCodec()),
            "rsu": RsuDataPlane(MAC, cores["rsu"], IdentityCodec()),
        }
        for role, plane in planes.items():
            with self.subTest(role=role):
                self.assertTrue(verifyObject(IDataPlane, plane))
                self.assertEqual(plane.status(0.0), {})

    def test_an_obu_originates_no_heartbeat_and_an_rsu_has_no_upstream(self):
        cores = self.cores()
        self.assertEqual(cores["obu"].heartbeat(0.0), [])
        self.assertEqual((cores["rsu"].upstream, cores["rsu"].gateway), (None, None))


class SansIoTests(SynchronousTestCase):
    def test_importing_the_cores_loads_no_twisted(self):
        # The authentication gate sits between the engine and the cores,
        # and is sans-I/O as they are.
        modules = submodules(vanet.routing) + submodules(vanet.dataplane)
        modules.append("vanet.auth")
        self.assertIn("vanet.routing.obu", modules)
        self.assertIn("vanet.dataplane.rsu", modules)
        script = (
            "import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
        loaded = json.loads(out)
        self.assertIn("vanet.routing.obu", loaded)
        self.assertEqual([m for m in loaded if m.startswith("twisted")], [])

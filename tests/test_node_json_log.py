"""``--json-log FILE``: structured log events as JSON lines."""

from __future__ import annotations

import json
import os
import tempfile

from twisted.logger import Logger, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from vanet.node.twistd import obu as tap_obu


class JsonLogTests(SynchronousTestCase):
    def test_events_are_written_as_json_lines_with_their_fields(self) -> None:
        folder = tempfile.mkdtemp(prefix="vanet-json-log-")
        self.addCleanup(os.rmdir, folder)
        config = os.path.join(folder, "obu.ini")
        with open(config, "w") as f:
            f.write("[node]\nname = car7\n[link]\ntransport = udp\ninterface = lo\n")
        self.addCleanup(os.unlink, config)
        log_path = os.path.join(folder, "events.json")
        self.addCleanup(os.unlink, log_path)
        options = tap_obu.Options()
        options.parseOptions(["--config", config, "--json-log", log_path])
        node = tap_obu.makeService(options)
        observer = node.json_log_observer
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        self.assertEqual(node.config.node.name, "car7")

        Logger(namespace="vanet.routing.obu").info(
            "{node} {route_event}", node="car7", route_event="upstream_selected", hops=2
        )
        globalLogPublisher.removeObserver(observer)
        with open(log_path) as f:
            events = [json.loads(line) for line in f if line.strip()]
        ours = [e for e in events if e.get("route_event") == "upstream_selected"]
        self.assertEqual(len(ours), 1)
        self.assertEqual(ours[0]["node"], "car7")
        self.assertEqual(ours[0]["hops"], 2)
        self.assertEqual(ours[0]["log_namespace"], "vanet.routing.obu")

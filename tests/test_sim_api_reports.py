"""NetJSON and Prometheus helpers for the simulation API."""

from __future__ import annotations

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import stable_local_mac
from vanet.sim.channel import ChannelMedium, ChannelParams
from vanet.sim.reports import network_graph, sim_metrics
from vanet.sim.traffic import FlowStats

NODES = [
    {"name": "r", "role": "rsu", "mac": "02:00:00:00:00:01"},
    {"name": "o", "role": "obu", "mac": "02:00:00:00:00:02"},
]


def medium_with_traffic() -> ChannelMedium:
    clock = task.Clock()
    medium = ChannelMedium(
        clock,
        seed=1,
        links={("r", "o"): ChannelParams(5, 1, 0), ("o", "r"): ChannelParams(7, 0, 1)},
    )

    class Port:
        def __init__(self, name):
            self.name, self.mac = name, stable_local_mac(name)

        def receive(self, frame):
            pass

    r, o = Port("r"), Port("o")
    medium.attach(r)
    medium.attach(o)
    medium.transmit(r, b"\xff" * 6 + r.mac + b"\x30\x30payload")
    clock.advance(1)
    return medium


class NetJsonTests(SynchronousTestCase):
    def test_graph(self) -> None:
        medium = medium_with_traffic()
        graph = network_graph(NODES, medium.channel_table(), router_id="r")
        self.assertEqual(graph["type"], "NetworkGraph")
        self.assertEqual(graph["router_id"], "r")
        self.assertEqual([n["id"] for n in graph["nodes"]], ["r", "o"])
        self.assertEqual(graph["nodes"][1]["properties"]["role"], "obu")
        # o -> r has loss 1: cut, so not in the graph
        self.assertEqual(
            [(link["source"], link["target"], link["cost"]) for link in graph["links"]],
            [("r", "o", 5.0)],
        )


class MetricsTests(SynchronousTestCase):
    def test_metrics_text(self) -> None:
        medium = medium_with_traffic()
        stats = {
            name: {**medium.node_stats(name), "drops": {"no_upstream": 3}}
            for name in ("r", "o")
        }
        flows = FlowStats()
        flow = flows.add_flow("f", stable_local_mac("a"), stable_local_mac("b"), 64)
        flows.on_received(flow.make_frame(0, 1.0), 1.004)
        text = sim_metrics(stats, medium.channel_table(), flows.summary())
        lines = text.splitlines()
        self.assertIn('vanet_sim_node_frames_total{node="r",direction="out"} 1', lines)
        self.assertIn('vanet_sim_node_frames_total{node="o",direction="in"} 1', lines)
        self.assertIn(
            'vanet_sim_node_drops_total{node="o",reason="no_upstream"} 3', lines
        )
        self.assertIn('vanet_sim_channel_latency_ms{source="r",target="o"} 5.0', lines)
        self.assertIn(
            'vanet_sim_channel_frames_delivered_total{source="r",target="o"} 1', lines
        )
        self.assertIn('vanet_sim_flow_delivery_ratio{flow="f"} 1.0', lines)
        self.assertTrue(
            any(
                line.startswith(
                    'vanet_sim_flow_latency_ms{flow="f",quantile="p99"} 4.0'
                )
                for line in lines
            )
        )
        # one HELP and TYPE per family
        self.assertEqual(text.count("# TYPE vanet_sim_node_frames_total counter"), 1)
        self.assertTrue(text.endswith("\n"))

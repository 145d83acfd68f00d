"""The netns simulator's status feed: each node's pushed ``/events`` stream
read into the simulator's view, reopened when it fails or ends."""

from __future__ import annotations

import os

from twisted.internet import defer
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, ResponseDone

from vanet.sim import node_feed
from vanet.sim.node_feed import RETRY_S, NodeStatusFeed
from vanet.web.stream import sse_message


class _Transport:
    stopped = False

    def stopProducing(self) -> None:
        self.stopped = True

    abortConnection = stopProducing


class _Response:
    """What ``Agent.request`` gives: a code, and a body delivered to the
    protocol the test then feeds."""

    phrase = b"OK"
    length = None

    def __init__(self, code: int = 200, body: bytes | None = None) -> None:
        self.code = code
        self.body = body
        self.protocol = None
        self.transport = _Transport()

    def deliverBody(self, protocol) -> None:
        self.protocol = protocol
        protocol.makeConnection(self.transport)
        if self.body is not None:  # a whole body, then its end
            protocol.dataReceived(self.body)
            protocol.connectionLost(Failure(ResponseDone()))


class _Agent:
    def __init__(self) -> None:
        self.asked: list[tuple[str, defer.Deferred]] = []

    def request(self, method: bytes, url: bytes) -> defer.Deferred:
        assert method == b"GET"
        d: defer.Deferred = defer.Deferred()
        self.asked.append((url.decode(), d))
        return d

    def answer(self, response) -> _Response:
        _url, d = self.asked.pop(0)
        d.callback(response)
        return response


class NodeStatusFeedTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.agent = _Agent()
        self.feed = NodeStatusFeed(self.agent, self.clock)
        self.addCleanup(self.feed.stop)

    def test_each_node_is_asked_for_its_event_stream_once(self) -> None:
        self.feed.start(["rsu", "obu1"])
        self.assertEqual(
            [url for url, _ in self.agent.asked],
            ["http://rsu/events", "http://obu1/events"],
        )

    def test_snapshots_are_read_however_the_stream_is_cut(self) -> None:
        self.feed.start(["obu1"])
        response = self.agent.answer(_Response())
        first = {"role": "obu", "gateway": "02:00:00:00:00:01", "n": 1}
        second = {"role": "obu", "gateway": None, "n": 2}
        stream = (
            b"retry: 2000\n\n"
            + sse_message("snapshot", first)
            + sse_message("snapshot", second)
        )
        for i in range(0, len(stream), 7):  # chunks that split every field
            response.protocol.dataReceived(stream[i : i + 7])
            if i < len(stream) // 2:
                self.assertIn(self.feed.statuses.get("obu1"), (None, first))
        self.assertEqual(self.feed.statuses, {"obu1": second})

    def test_other_events_and_bad_data_change_nothing(self) -> None:
        self.feed.start(["obu1"])
        response = self.agent.answer(_Response())
        good = {"role": "obu", "n": 1}
        response.protocol.dataReceived(sse_message("snapshot", good))
        response.protocol.dataReceived(
            sse_message("other", {"role": "x"})
            + b"event: snapshot\ndata: {not json\n\n"
            + b"event: snapshot\ndata: [1, 2]\n\n"
            + b": a comment\n\n"
        )
        self.assertEqual(self.feed.statuses, {"obu1": good})

    def test_an_overlong_message_ends_the_stream(self) -> None:
        self.patch(node_feed, "MAX_MESSAGE", 100)
        self.feed.start(["obu1"])
        response = self.agent.answer(_Response())
        response.protocol.dataReceived(b"data: " + b"x" * 200)
        self.assertTrue(response.transport.stopped)

    def test_a_node_not_up_yet_is_asked_again(self) -> None:
        self.feed.start(["obu1"])
        _url, d = self.agent.asked.pop(0)
        d.errback(ConnectionRefusedError())
        self.clock.advance(RETRY_S * 0.99)
        self.assertEqual(self.agent.asked, [])
        self.clock.advance(RETRY_S * 0.02)
        self.assertEqual([url for url, _ in self.agent.asked], ["http://obu1/events"])

    def test_a_refused_stream_is_asked_again(self) -> None:
        self.feed.start(["obu1"])
        self.agent.answer(_Response(503, b'{"error": "too many open pages"}\n'))
        self.assertEqual(self.feed.statuses, {})
        self.clock.advance(RETRY_S)
        self.assertEqual(len(self.agent.asked), 1)

    def test_a_stream_that_ends_is_opened_again_and_the_status_kept(self) -> None:
        self.feed.start(["obu1"])
        status = {"role": "obu", "n": 1}
        self.agent.answer(_Response(body=sse_message("snapshot", status)))
        self.assertEqual(self.feed.statuses, {"obu1": status})  # the node restarts
        self.clock.advance(RETRY_S)
        response = self.agent.answer(_Response())
        newer = {"role": "obu", "n": 2}
        response.protocol.dataReceived(sse_message("snapshot", newer))
        self.assertEqual(self.feed.statuses, {"obu1": newer})

    def test_stop_cancels_a_request_not_answered_yet(self) -> None:
        # An answer after the stop would be a stream nobody reads.
        self.feed.start(["obu1"])
        _url, pending = self.agent.asked[0]
        self.feed.stop()
        self.assertTrue(pending.called)
        self.clock.advance(10 * RETRY_S)
        self.assertEqual(len(self.agent.asked), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_closes_the_streams_and_asks_no_more(self) -> None:
        self.feed.start(["rsu", "obu1"])
        response = self.agent.answer(_Response())
        _url, pending = self.agent.asked.pop(0)
        pending.errback(ConnectionRefusedError())
        self.feed.stop()
        self.assertTrue(response.transport.stopped)
        response.protocol.connectionLost(Failure(ResponseDone()))
        self.clock.advance(10 * RETRY_S)
        self.assertEqual(self.agent.asked, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class RealStreamTests(TestCase):
    """The feed against a node's real ``/events`` (``EventStream`` in a
    twisted.web Site on a UNIX socket, as in netns mode), on the reactor."""

    @defer.inlineCallbacks
    def test_the_feed_reads_what_the_node_pushes(self):
        from twisted.internet import reactor
        from twisted.web import resource, server

        from vanet.sim.netns import _UnixSockets
        from vanet.web.stream import EventStream

        status = {"role": "obu", "gateway": None, "counters": {"frames_in": 0}}
        stream = EventStream(lambda: dict(status), reactor, interval_s=0.05)
        root = resource.Resource()
        root.putChild(b"events", stream)
        path = os.path.join(self.mktemp() + ".d", "obu1.sock")
        os.makedirs(os.path.dirname(path))
        listening = reactor.listenUNIX(path, server.Site(root))
        self.addCleanup(listening.stopListening)
        self.addCleanup(stream.close)
        agent = Agent.usingEndpointFactory(
            reactor, _UnixSockets(reactor, {"obu1": path})
        )
        feed = NodeStatusFeed(agent, reactor)
        self.addCleanup(feed.stop)
        feed.start(["obu1"])
        yield self.until(lambda: feed.statuses.get("obu1") == status)
        status["gateway"] = "02:00:00:00:00:01"  # the next push has it
        yield self.until(lambda: feed.statuses["obu1"]["gateway"] is not None)
        self.assertEqual(feed.statuses["obu1"], status)
        stream.close()  # the node goes: the stream is opened again
        yield self.until(lambda: len(stream.listeners) == 1)

    @defer.inlineCallbacks
    def until(self, condition, timeout: float = 5.0):
        from twisted.internet import reactor

        deadline = reactor.seconds() + timeout
        while not condition():
            if reactor.seconds() > deadline:
                self.fail("not within 5 s")
            yield deferLater(reactor, 0.01, lambda: None)


class RouteChangeTests(SynchronousTestCase):
    """A vehicle's upstream or gateway changing between two pushes is a
    route event (the simulator's web page pushes at once on one)."""

    def test_route_changes_name_what_changed(self) -> None:
        from vanet.sim.node_feed import route_changes
        from vanet.web.stream import UPSTREAM_EVENTS

        a, b = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
        self.assertEqual(
            route_changes(None, {"upstream": a, "gateway": b}),
            [
                ("upstream_selected", {"from": None, "to": a}),
                ("gateway_selected", {"from": None, "to": b}),
            ],
        )
        self.assertEqual(
            route_changes({"upstream": a, "gateway": b}, {"upstream": b, "gateway": b}),
            [("upstream_switched", {"from": a, "to": b})],
        )
        self.assertEqual(
            route_changes({"upstream": a, "gateway": b}, {"upstream": None}),
            [
                ("upstream_lost", {"from": a, "to": None}),
                ("gateway_lost", {"from": b, "to": None}),
            ],
        )
        self.assertEqual(route_changes({"upstream": a}, {"upstream": a}), [])
        for old, new in ((None, {"upstream": a}), ({"upstream": a}, {})):
            for event, _ in route_changes(old, new):
                self.assertIn(event, UPSTREAM_EVENTS)

    def test_the_feed_tells_of_a_vehicles_changes_only(self) -> None:
        heard = []
        agent = _Agent()
        feed = NodeStatusFeed(agent, Clock(), lambda *event: heard.append(event))
        self.addCleanup(feed.stop)
        feed.start(["obu1", "rsu"])
        obu = agent.answer(_Response())
        rsu = agent.answer(_Response())
        up = "02:00:00:00:00:0a"
        obu.protocol.dataReceived(sse_message("snapshot", {"role": "obu"}))
        obu.protocol.dataReceived(
            sse_message("snapshot", {"role": "obu", "upstream": up})
        )
        obu.protocol.dataReceived(
            sse_message("snapshot", {"role": "obu", "upstream": up})
        )
        rsu.protocol.dataReceived(sse_message("snapshot", {"role": "rsu"}))
        self.assertEqual(
            heard, [("obu1", "upstream_selected", {"from": None, "to": up})]
        )

    def test_a_netns_simulation_hands_them_to_its_route_listeners(self) -> None:
        from pathlib import Path

        from vanet.sim.loader import load_topology
        from vanet.sim.netns import NetnsSimulation

        simulation = NetnsSimulation(
            load_topology(Path(__file__).resolve().parents[1] / "examples/chain.ini"),
            Clock(),
        )
        heard = []
        simulation.add_route_listener(lambda *event: heard.append(event))
        simulation._route_changed("obu1", "upstream_lost", {"from": "x", "to": None})
        self.assertEqual(heard, [("obu1", "upstream_lost", {"from": "x", "to": None})])

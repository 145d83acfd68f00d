"""The data plane (docs/protocol.md §7) with fake routing cores.

Every emitted action is rendered through the writer registry and parsed
back, so the assertions are about the frames a neighbour would receive.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from vanet.crypto import AesGcmCodec, IdentityCodec
from vanet.dataplane import ClientTable, ObuDataPlane, RsuDataPlane
from vanet.mac import BROADCAST, format_mac
from vanet.node.engine import frame_writers
from vanet.routing.actions import DeliverToTap, Transmit
from vanet.wire import DownstreamView, UpstreamView, parse, writer_for

RSU = bytes.fromhex("02aa00000001")
OBU1 = bytes.fromhex("02bb00000001")
OBU2 = bytes.fromhex("02bb00000002")
OBU3 = bytes.fromhex("02bb00000003")
ME = OBU2

# Clients: hosts behind the TAPs.
HOST_RSU = bytes.fromhex("0a0000000001")
HOST1 = bytes.fromhex("0a0000000011")
HOST2 = bytes.fromhex("0a0000000022")
HOST3 = bytes.fromhex("0a0000000033")
MULTICAST = bytes.fromhex("333300000001")

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def ether(dst: bytes, src: bytes, body: bytes = b"marker payload") -> bytes:
    return dst + src + b"\x08\x00" + body


WRITE = frame_writers()


def render(action: Transmit, src: bytes = ME):
    """The frame a Transmit action of node ``src`` (by default the OBU under
    test) puts on the link, parsed back."""
    buf = bytearray()
    n = WRITE[type(action)](buf, src, action)
    (view,) = parse(bytes(buf[:n]))
    assert view.dst == action.next_hop
    return view


def upstream_msg(origin, payload, src, dst=ME) -> UpstreamView:
    buf = bytearray()
    n = writer_for("upstream").write(buf, origin, payload, src, dst)
    (view,) = parse(bytes(buf[:n]))
    return view


def downstream_msg(origin, destination, payload, src, dst=ME) -> DownstreamView:
    buf = bytearray()
    n = writer_for("downstream").write(buf, origin, destination, payload, src, dst)
    (view,) = parse(bytes(buf[:n]))
    return view


class FakeObuRouting:
    """What ObuDataPlane needs from the OBU routing core."""

    def __init__(self, upstream=None, routes=None):
        self.upstream = upstream
        self.routes = dict(routes or {})
        self.asked = []
        self.loops = []

    def route_to(self, destination, now):
        self.asked.append((destination, now))
        return self.routes.get(destination)

    def on_data_seen(self, origin, via, now):
        self.__dict__.setdefault("data_seen", []).append((origin, via))

    def on_upstream_loop(self, neighbour, now):
        # The real core ranks ``neighbour`` last; with no other candidate
        # the upstream stays (tests set ``promote`` to give one).
        self.loops.append(neighbour)
        self.upstream = getattr(self, "promote", self.upstream)
        return []


class FakeRsuRouting:
    """What RsuDataPlane needs from the RSU routing core. ``known`` lists
    vehicles even if their route is gone (to test the no-route drop)."""

    def __init__(self, routes, known=None):
        self.routes = dict(routes)
        self.known = list(known) if known is not None else list(self.routes)

    def vehicles(self, now):
        return list(self.known)

    def route_to(self, vehicle, now):
        return self.routes.get(vehicle)

    def on_data_seen(self, origin, via, now):
        self.data_seen.append((origin, via))
        return []

    @property
    def routes_version(self):
        # Moves whenever the routes do, as the real core's counter.
        return tuple(sorted(self.routes.items()))

    @property
    def data_seen(self):
        return self.__dict__.setdefault("_data_seen", [])


class RefusingCodec:
    """A codec whose use by a relay would fail the test."""

    overhead = 0

    def seal(self, frame):
        raise AssertionError("a relay must not seal")

    def open(self, payload):
        raise AssertionError("a relay must not open payloads")


def copies(actions, src: bytes = RSU):
    """{destination vehicle: parsed downstream frame} of the Transmits of
    node ``src`` (by default the RSU)."""
    result = {}
    for action in actions:
        if isinstance(action, Transmit):
            view = render(action, src)
            assert view.destination not in result
            result[view.destination] = view
    return result


def delivered(actions):
    return [bytes(a.frame) for a in actions if isinstance(a, DeliverToTap)]


class ObuTapFrameTests(SynchronousTestCase):
    def test_tunnels_to_current_upstream(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), IdentityCodec())
        frame = ether(HOST_RSU, HOST2)
        (action,) = dp.on_tap_frame(frame, 1.0)
        self.assertEqual(action.kind, "upstream")
        view = render(action)
        self.assertEqual(view.kind, "upstream")
        self.assertEqual((view.dst, view.src, view.origin), (OBU1, ME, ME))
        self.assertEqual(bytes(view.payload), frame)

    def test_follows_upstream_changes(self):
        routing = FakeObuRouting(upstream=OBU1)
        dp = ObuDataPlane(ME, routing, IdentityCodec())
        routing.upstream = OBU3
        (action,) = dp.on_tap_frame(ether(BROADCAST, HOST2), 1.0)
        self.assertEqual(render(action).dst, OBU3)

    def test_no_upstream_is_held_then_dropped_and_counted(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=None), IdentityCodec())
        self.assertEqual(dp.on_tap_frame(ether(BROADCAST, HOST2), 1.0), [])
        self.assertEqual(dp.counters["held"], 1)
        dp.expire(2.5)  # no upstream came within hold_s
        self.assertEqual(dp.drops["no_upstream"], 1)

    def test_short_tap_frame_is_dropped(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), IdentityCodec())
        self.assertEqual(dp.on_tap_frame(b"\x01" * 13, 1.0), [])
        self.assertEqual(dp.drops["short_frame"], 1)

    def test_encrypts_what_it_tunnels(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), AesGcmCodec(KEY))
        frame = ether(HOST_RSU, HOST2, b"secret marker 12345")
        (action,) = dp.on_tap_frame(frame, 1.0)
        view = render(action)
        payload = bytes(view.payload)
        self.assertNotIn(b"secret marker", payload)
        self.assertEqual(len(payload), len(frame) + 28)
        self.assertEqual(AesGcmCodec(KEY).open(payload), frame)


class ObuRelayTests(SynchronousTestCase):
    def test_upstream_relayed_unchanged_but_dst_and_src(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), RefusingCodec())
        msg = upstream_msg(OBU3, b"opaque sealed bytes", src=OBU3)
        (action,) = dp.on_upstream(msg, 2.0)
        self.assertEqual(action.kind, "upstream_forward")
        view = render(action)
        self.assertEqual((view.dst, view.src, view.origin), (OBU1, ME, OBU3))
        self.assertEqual(bytes(view.payload), b"opaque sealed bytes")
        self.assertEqual(dp.counters["upstream_forwarded"], 1)

    def test_upstream_relay_without_upstream_is_dropped(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=None), RefusingCodec())
        self.assertEqual(dp.on_upstream(upstream_msg(OBU3, b"x" * 20, OBU3), 2.0), [])
        self.assertEqual(dp.drops["no_upstream"], 1)

    def test_upstream_loops_are_dropped(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), RefusingCodec())
        # Our own traffic coming back to us.
        self.assertEqual(dp.on_upstream(upstream_msg(ME, b"x" * 20, OBU3), 2.0), [])
        # From the neighbour we would send it to: it would bounce.
        self.assertEqual(dp.on_upstream(upstream_msg(OBU3, b"x" * 20, OBU1), 2.0), [])
        self.assertEqual(dp.drops["loop"], 2)
        self.assertEqual(dp.routing.loops, [OBU1])  # the core was told

    def test_upstream_loop_goes_on_through_the_promoted_next_hop(self):
        routing = FakeObuRouting(upstream=OBU1)
        routing.promote = RSU
        dp = ObuDataPlane(ME, routing, RefusingCodec())
        (action,) = dp.on_upstream(upstream_msg(OBU3, b"x" * 20, OBU1), 2.0)
        self.assertEqual((action.kind, action.next_hop), ("upstream_forward", RSU))
        self.assertEqual(routing.loops, [OBU1])
        self.assertNotIn("loop", dp.drops)

    def test_real_core_breaks_the_loop_its_upstream_reveals(self):
        # N1 and N3 both heard the RSU itself (both feasible, docs/protocol.md
        # §4.8); N1, the faster, is our upstream. N1 sending us upstream data
        # says it routes via us (it does not follow the rule, or its state
        # is older than ours): the loop is broken at once.
        from vanet.discovery import load_strategy
        from vanet.node.testing import heartbeat_view, route_events
        from vanet.routing.obu import ObuRoutingCore

        core = ObuRoutingCore(ME, load_strategy("latency"))
        core.on_message(heartbeat_view(OBU1, RSU, 1, hops=1, duration_ms=1000), 1.0)
        core.on_message(heartbeat_view(OBU3, RSU, 1, hops=1, duration_ms=1000), 1.01)
        core.tick(1.25)
        self.assertEqual(core.upstream, OBU1)
        dp = ObuDataPlane(ME, core, RefusingCodec())
        vehicle = bytes.fromhex("02bb00000009")  # behind us, its frame via N1
        actions = dp.on_upstream(upstream_msg(vehicle, b"x" * 20, OBU1), 1.3)
        self.assertEqual(core.upstream, OBU3)
        events = [e.event for e in route_events(actions)]
        self.assertIn("loop_detected", events)
        self.assertIn("upstream_switched", events)
        switched = [e for e in route_events(actions) if e.event == "upstream_switched"]
        self.assertEqual(switched[0].fields["reason"], "loop")
        forward = [a for a in actions if getattr(a, "kind", "") == "upstream_forward"]
        self.assertEqual([a.next_hop for a in forward], [OBU3])

    def test_downstream_for_another_vehicle_is_forwarded_unopened(self):
        routing = FakeObuRouting(upstream=OBU1, routes={OBU3: OBU3})
        dp = ObuDataPlane(ME, routing, RefusingCodec())
        msg = downstream_msg(RSU, OBU3, b"sealed for obu3", src=OBU1)
        (action,) = dp.on_downstream(msg, 3.0)
        self.assertEqual(action.kind, "downstream_forward")
        view = render(action)
        self.assertEqual(
            (view.dst, view.src, view.origin, view.destination), (OBU3, ME, RSU, OBU3)
        )
        self.assertEqual(bytes(view.payload), b"sealed for obu3")
        self.assertEqual(routing.asked, [(OBU3, 3.0)])

    def test_downstream_without_route_is_dropped(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), RefusingCodec())
        msg = downstream_msg(RSU, OBU3, b"x" * 20, src=OBU1)
        self.assertEqual(dp.on_downstream(msg, 3.0), [])
        self.assertEqual(dp.drops["no_route"], 1)

    def test_downstream_never_sent_back_where_it_came_from(self):
        routing = FakeObuRouting(upstream=OBU1, routes={OBU3: OBU1})
        dp = ObuDataPlane(ME, routing, RefusingCodec())
        msg = downstream_msg(RSU, OBU3, b"x" * 20, src=OBU1)
        self.assertEqual(dp.on_downstream(msg, 3.0), [])
        self.assertEqual(dp.drops["loop"], 1)


class ObuDeliveryTests(SynchronousTestCase):
    def test_downstream_for_me_goes_to_tap(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), IdentityCodec())
        frame = ether(HOST2, HOST_RSU)
        actions = dp.on_downstream(downstream_msg(RSU, ME, frame, OBU1), 1.0)
        self.assertEqual(delivered(actions), [frame])
        self.assertEqual(len(actions), 1)

    def test_broadcast_destination_is_delivered_not_forwarded(self):
        # Older implementations address broadcast copies to ff:ff:..:ff.
        routing = FakeObuRouting(upstream=OBU1, routes={BROADCAST: OBU3})
        dp = ObuDataPlane(ME, routing, IdentityCodec())
        frame = ether(BROADCAST, HOST_RSU)
        actions = dp.on_downstream(downstream_msg(RSU, BROADCAST, frame, OBU1), 1.0)
        self.assertEqual(actions, [DeliverToTap(actions[0].frame)])
        self.assertEqual(delivered(actions), [frame])

    def test_decrypts_downstream_for_me(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), AesGcmCodec(KEY))
        frame = ether(HOST2, HOST_RSU, b"hello obu2")
        sealed = AesGcmCodec(KEY).seal(frame)
        actions = dp.on_downstream(downstream_msg(RSU, ME, sealed, OBU1), 1.0)
        self.assertEqual(delivered(actions), [frame])

    def test_wrong_key_is_dropped_and_counted(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), AesGcmCodec(KEY))
        sealed = AesGcmCodec(OTHER_KEY).seal(ether(HOST2, HOST_RSU))
        self.assertEqual(dp.on_downstream(downstream_msg(RSU, ME, sealed, OBU1), 1), [])
        self.assertEqual(dp.drops["decrypt"], 1)

    def test_tampered_payload_is_dropped(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), AesGcmCodec(KEY))
        sealed = bytearray(AesGcmCodec(KEY).seal(ether(HOST2, HOST_RSU)))
        sealed[20] ^= 0x01
        msg = downstream_msg(RSU, ME, bytes(sealed), OBU1)
        self.assertEqual(dp.on_downstream(msg, 1.0), [])
        self.assertEqual(dp.drops["decrypt"], 1)

    def test_replayed_payload_is_dropped(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), AesGcmCodec(KEY))
        frame = ether(HOST2, HOST_RSU)
        msg = downstream_msg(RSU, ME, AesGcmCodec(KEY).seal(frame), OBU1)
        self.assertEqual(delivered(dp.on_downstream(msg, 1.0)), [frame])
        self.assertEqual(dp.on_downstream(msg, 2.0), [])
        self.assertEqual(dp.drops["replay"], 1)

    def test_short_inner_frame_is_dropped(self):
        dp = ObuDataPlane(ME, FakeObuRouting(upstream=OBU1), IdentityCodec())
        msg = downstream_msg(RSU, ME, b"\x00" * 13, OBU1)
        self.assertEqual(dp.on_downstream(msg, 1.0), [])
        self.assertEqual(dp.drops["short_frame"], 1)

    @settings(max_examples=200, deadline=None)
    @given(payload=st.binary(max_size=200), to_me=st.booleans())
    def test_random_payloads_never_raise(self, payload, to_me):
        routing = FakeObuRouting(upstream=OBU1, routes={OBU3: OBU3})
        dp = ObuDataPlane(ME, routing, AesGcmCodec(KEY))
        destination = ME if to_me else OBU3
        dp.on_downstream(downstream_msg(RSU, destination, payload, OBU1), 1.0)
        dp.on_upstream(upstream_msg(OBU3, payload, OBU3), 1.0)
        dp.on_tap_frame(payload, 1.0)
        if to_me:
            self.assertEqual(sum(dp.drops.values()), 2 if len(payload) < 14 else 1)


class RsuFromVehicleTests(SynchronousTestCase):
    """Upstream messages at the RSU. Topology: OBU1 and OBU3 one hop away,
    OBU2 two hops away behind OBU1."""

    def setUp(self):
        self.routing = FakeRsuRouting({OBU1: OBU1, OBU2: OBU1, OBU3: OBU3})
        self.dp = RsuDataPlane(RSU, self.routing, IdentityCodec())

    def up(self, frame, origin, now=1.0):
        return self.dp.on_upstream(upstream_msg(origin, frame, origin, RSU), now)

    def test_broadcast_goes_to_tap_and_every_vehicle_but_origin(self):
        frame = ether(BROADCAST, HOST3)
        actions = self.up(frame, OBU3)
        self.assertEqual(delivered(actions), [frame])
        sent = copies(actions)
        self.assertEqual(set(sent), {OBU1, OBU2})
        for vehicle, view in sent.items():
            self.assertEqual(view.kind, "downstream")
            self.assertEqual(view.origin, OBU3)  # where the traffic entered
            self.assertEqual(view.destination, vehicle)
            self.assertEqual(view.src, RSU)
            self.assertEqual(bytes(view.payload), frame)

    def test_two_hop_copy_is_addressed_to_the_vehicle_via_next_hop(self):
        sent = copies(self.up(ether(MULTICAST, HOST3), OBU3))
        self.assertEqual((sent[OBU2].destination, sent[OBU2].dst), (OBU2, OBU1))
        self.assertEqual((sent[OBU1].destination, sent[OBU1].dst), (OBU1, OBU1))

    def test_unicast_to_client_behind_another_obu(self):
        self.up(ether(BROADCAST, HOST2), OBU2)  # learn HOST2 behind OBU2
        frame = ether(HOST2, HOST3)
        actions = self.up(frame, OBU3)
        self.assertEqual(delivered(actions), [])
        sent = copies(actions)
        self.assertEqual(list(sent), [OBU2])
        self.assertEqual((sent[OBU2].dst, sent[OBU2].origin), (OBU1, OBU3))
        self.assertEqual(bytes(sent[OBU2].payload), frame)

    def test_unicast_to_client_behind_rsu_goes_to_tap_only(self):
        self.dp.on_tap_frame(ether(BROADCAST, HOST_RSU), 1.0)
        frame = ether(HOST_RSU, HOST3)
        self.assertEqual(self.up(frame, OBU3), [DeliverToTap(frame)])

    def test_unknown_unicast_is_flooded(self):
        frame = ether(HOST_RSU, HOST3)
        actions = self.up(frame, OBU3)
        self.assertEqual(delivered(actions), [frame])
        self.assertEqual(set(copies(actions)), {OBU1, OBU2})

    def test_client_on_origin_segment_is_not_sent_back(self):
        self.up(ether(BROADCAST, HOST3), OBU3)
        self.assertEqual(self.up(ether(HOST3, bytes.fromhex("0a00000000ff")), OBU3), [])
        self.assertEqual(self.dp.drops["same_segment"], 1)

    def test_client_that_moved_is_relearned(self):
        self.up(ether(BROADCAST, HOST2), OBU2)
        self.up(ether(BROADCAST, HOST2), OBU3)
        self.assertEqual(list(copies(self.up(ether(HOST2, HOST1), OBU1))), [OBU3])

    def test_copy_without_route_is_dropped_others_sent(self):
        routing = FakeRsuRouting({OBU1: OBU1}, known=[OBU1, OBU2, OBU3])
        dp = RsuDataPlane(RSU, routing, IdentityCodec())
        actions = dp.on_upstream(upstream_msg(OBU3, ether(BROADCAST, HOST3), OBU3), 1)
        self.assertEqual(set(copies(actions)), {OBU1})
        self.assertEqual(dp.drops["no_route"], 1)

    def test_short_inner_frame_is_dropped(self):
        self.assertEqual(self.up(b"\x01" * 13, OBU3), [])
        self.assertEqual(self.dp.drops["short_frame"], 1)
        self.assertEqual(self.dp.status(1.0), {})

    def test_group_source_is_not_learned(self):
        self.assertEqual(self.up(ether(BROADCAST, MULTICAST), OBU3), [])
        self.assertEqual(self.dp.drops["bad_source"], 1)
        self.assertEqual(self.dp.status(1.0), {})

    def test_downstream_at_rsu_is_dropped(self):
        msg = downstream_msg(RSU, OBU1, ether(BROADCAST, HOST1), OBU1, RSU)
        self.assertEqual(self.dp.on_downstream(msg, 1.0), [])
        self.assertEqual(self.dp.drops["unexpected_downstream"], 1)


class RsuHoldTests(SynchronousTestCase):
    """A unicast frame for a vehicle without a route waits for one, up to
    ``hold_s`` (docs/protocol.md §7.3)."""

    def setUp(self):
        self.routing = FakeRsuRouting({OBU1: OBU1})
        self.dp = RsuDataPlane(RSU, self.routing, IdentityCodec(), hold_s=2.0)

    def learn(self, host, origin, via, now):
        """``host`` speaks from behind ``origin``, through ``via``."""
        msg = upstream_msg(origin, ether(BROADCAST, host), via, RSU)
        return self.dp.on_upstream(msg, now)

    def test_frame_for_a_known_client_waits_for_its_route(self):
        self.learn(HOST2, OBU2, OBU1, 1.0)  # OBU2 has no route yet
        frame = ether(HOST2, HOST_RSU)
        self.assertEqual(self.dp.on_tap_frame(frame, 1.5), [])
        self.assertEqual((self.dp.counters["held"], self.dp.drops["no_route"]), (1, 0))
        self.routing.routes[OBU2] = OBU1
        # The next frame through the RSU finds the route: the held one goes.
        later = ether(HOST2, HOST_RSU, b"later")
        actions = self.dp.on_tap_frame(later, 2.0)
        self.assertEqual(sent(actions), [(OBU2, frame), (OBU2, later)])
        self.assertEqual(self.dp.counters["released"], 1)

    def test_unknown_unicast_is_flooded_then_sent_where_it_is_learnt(self):
        frame = ether(HOST3, HOST_RSU)
        self.assertEqual(sent(self.dp.on_tap_frame(frame, 1.0)), [(OBU1, frame)])
        self.routing.routes[OBU3] = OBU3
        actions = self.learn(HOST3, OBU3, OBU3, 1.5)
        self.assertIn((OBU3, frame), sent(actions))

    def test_a_vehicle_that_had_the_flooded_copy_gets_no_second(self):
        frame = ether(HOST1, HOST_RSU)
        self.dp.on_tap_frame(frame, 1.0)  # flooded: OBU1 had its copy
        self.assertNotIn((OBU1, frame), sent(self.learn(HOST1, OBU1, OBU1, 1.5)))

    def test_held_frames_expire_as_no_route(self):
        self.learn(HOST2, OBU2, OBU1, 1.0)
        frame = ether(HOST2, HOST_RSU)
        self.dp.on_tap_frame(frame, 1.0)
        self.dp.expire(2.9)
        self.assertEqual(self.dp.drops["no_route"], 0)
        self.dp.expire(3.1)
        self.assertEqual(self.dp.drops["no_route"], 1)
        self.routing.routes[OBU2] = OBU1
        self.assertNotIn((OBU2, frame), sent(self.learn(HOST1, OBU1, OBU1, 3.2)))

    def test_the_hold_is_bounded(self):
        self.learn(HOST2, OBU2, OBU1, 1.0)
        for _ in range(RsuDataPlane.HOLD_FRAMES + 5):
            self.dp.on_tap_frame(ether(HOST2, HOST_RSU), 1.0)
        self.assertEqual(self.dp.drops["no_route"], 5)

    def test_without_a_hold_the_frame_is_dropped(self):
        dp = RsuDataPlane(RSU, self.routing, IdentityCodec())
        dp.on_upstream(upstream_msg(OBU2, ether(BROADCAST, HOST2), OBU1, RSU), 1.0)
        self.assertEqual(dp.on_tap_frame(ether(HOST2, HOST_RSU), 1.0), [])
        self.assertEqual(dp.drops["no_route"], 1)


def sent(actions, src: bytes = RSU) -> list[tuple[bytes, bytes]]:
    """(destination vehicle, inner frame) of every copy, in order."""
    return [
        (view.destination, bytes(view.payload))
        for view in (render(a, src) for a in actions if isinstance(a, Transmit))
    ]


class RsuFromTapTests(SynchronousTestCase):
    def setUp(self):
        self.routing = FakeRsuRouting({OBU1: OBU1, OBU2: OBU1, OBU3: OBU3})
        self.dp = RsuDataPlane(RSU, self.routing, IdentityCodec())

    def test_broadcast_copy_to_every_vehicle(self):
        frame = ether(BROADCAST, HOST_RSU)
        actions = self.dp.on_tap_frame(frame, 1.0)
        self.assertEqual(delivered(actions), [])
        sent = copies(actions)
        self.assertEqual(set(sent), {OBU1, OBU2, OBU3})
        for vehicle, view in sent.items():
            self.assertEqual(
                (view.origin, view.destination, view.dst, view.src),
                (RSU, vehicle, self.routing.routes[vehicle], RSU),
            )
            self.assertEqual(bytes(view.payload), frame)

    def test_unicast_to_known_client_goes_to_its_obu_only(self):
        self.dp.on_upstream(upstream_msg(OBU2, ether(BROADCAST, HOST2), OBU1, RSU), 1)
        sent = copies(self.dp.on_tap_frame(ether(HOST2, HOST_RSU), 2.0))
        self.assertEqual(list(sent), [OBU2])
        self.assertEqual((sent[OBU2].dst, sent[OBU2].origin), (OBU1, RSU))

    def test_unknown_unicast_goes_to_every_vehicle(self):
        sent = copies(self.dp.on_tap_frame(ether(HOST2, HOST_RSU), 1.0))
        self.assertEqual(set(sent), {OBU1, OBU2, OBU3})

    def test_learns_tap_clients_behind_itself(self):
        self.dp.on_tap_frame(ether(BROADCAST, HOST_RSU), 1.0)
        self.assertEqual(
            self.dp.status(3.5),
            {format_mac(HOST_RSU): {"behind": format_mac(RSU), "age_s": 2.5}},
        )

    def test_short_tap_frame_is_dropped(self):
        self.assertEqual(self.dp.on_tap_frame(b"\xff" * 10, 1.0), [])
        self.assertEqual(self.dp.drops["short_frame"], 1)

    def test_no_vehicles_sends_nothing(self):
        dp = RsuDataPlane(RSU, FakeRsuRouting({}), IdentityCodec())
        self.assertEqual(dp.on_tap_frame(ether(BROADCAST, HOST_RSU), 1.0), [])


class RsuEncryptionTests(SynchronousTestCase):
    def test_opens_decides_and_seals_per_recipient(self):
        routing = FakeRsuRouting({OBU1: OBU1, OBU2: OBU1, OBU3: OBU3})
        dp = RsuDataPlane(RSU, routing, AesGcmCodec(KEY))
        frame = ether(BROADCAST, HOST3, b"plaintext marker")
        sealed = AesGcmCodec(KEY).seal(frame)
        actions = dp.on_upstream(upstream_msg(OBU3, sealed, OBU3, RSU), 1.0)
        self.assertEqual(delivered(actions), [frame])
        sent = copies(actions)
        payloads = [bytes(view.payload) for view in sent.values()]
        self.assertEqual(len(payloads), 2)
        self.assertEqual(len(set(payloads + [sealed])), 3)  # fresh nonce each
        for payload in payloads:
            self.assertNotIn(b"plaintext marker", payload)
            self.assertEqual(AesGcmCodec(KEY).open(payload), frame)

    def test_undecryptable_upstream_is_dropped_and_not_learned(self):
        dp = RsuDataPlane(RSU, FakeRsuRouting({OBU1: OBU1}), AesGcmCodec(KEY))
        sealed = AesGcmCodec(OTHER_KEY).seal(ether(BROADCAST, HOST3))
        self.assertEqual(dp.on_upstream(upstream_msg(OBU3, sealed, OBU3, RSU), 1), [])
        self.assertEqual(dp.drops["decrypt"], 1)
        self.assertEqual(dp.status(1.0), {})

    def test_replayed_upstream_is_dropped(self):
        dp = RsuDataPlane(RSU, FakeRsuRouting({OBU1: OBU1}), AesGcmCodec(KEY))
        msg = upstream_msg(OBU3, AesGcmCodec(KEY).seal(ether(BROADCAST, HOST3)), OBU3)
        self.assertEqual(len(dp.on_upstream(msg, 1.0)), 2)
        self.assertEqual(dp.on_upstream(msg, 2.0), [])
        self.assertEqual(dp.drops["replay"], 1)


class EndToEndTests(SynchronousTestCase):
    """OBU3 -> RSU -> OBU1 (relay) -> OBU2 through real frames, encrypted."""

    def test_broadcast_reaches_two_hop_vehicle_through_relay(self):
        rsu = RsuDataPlane(
            RSU, FakeRsuRouting({OBU1: OBU1, OBU2: OBU1, OBU3: OBU3}), AesGcmCodec(KEY)
        )
        obu1 = ObuDataPlane(
            OBU1, FakeObuRouting(upstream=RSU, routes={OBU2: OBU2}), AesGcmCodec(KEY)
        )
        obu2 = ObuDataPlane(OBU2, FakeObuRouting(upstream=OBU1), AesGcmCodec(KEY))
        obu3 = ObuDataPlane(OBU3, FakeObuRouting(upstream=RSU), AesGcmCodec(KEY))
        frame = ether(BROADCAST, HOST3, b"arp who-has")

        (up,) = obu3.on_tap_frame(frame, 1.0)
        at_rsu = rsu.on_upstream(render(up, OBU3), 1.0)
        sent = copies(at_rsu)
        # OBU1 gets its own copy, and the relay copy for OBU2.
        self.assertEqual(delivered(obu1.on_downstream(sent[OBU1], 1.0)), [frame])
        relayed = obu1.on_downstream(sent[OBU2], 1.0)
        self.assertEqual(delivered(relayed), [])
        (forward,) = relayed
        at_obu2 = render(forward, OBU1)
        self.assertEqual((at_obu2.dst, at_obu2.destination), (OBU2, OBU2))
        self.assertEqual(delivered(obu2.on_downstream(at_obu2, 1.0)), [frame])

    def test_unicast_reply_is_carried_back_to_the_client_obu(self):
        rsu = RsuDataPlane(
            RSU, FakeRsuRouting({OBU2: OBU1, OBU1: OBU1}), AesGcmCodec(KEY)
        )
        obu2 = ObuDataPlane(OBU2, FakeObuRouting(upstream=OBU1), AesGcmCodec(KEY))
        obu1 = ObuDataPlane(
            OBU1, FakeObuRouting(upstream=RSU, routes={OBU2: OBU2}), AesGcmCodec(KEY)
        )
        request = ether(BROADCAST, HOST2, b"ping")
        (up,) = obu2.on_tap_frame(request, 1.0)
        (up_relayed,) = obu1.on_upstream(render(up, OBU2), 1.0)
        rsu.on_upstream(render(up_relayed, OBU1), 1.0)
        reply = ether(HOST2, HOST_RSU, b"pong")
        (down,) = rsu.on_tap_frame(reply, 1.1)
        (down_relayed,) = obu1.on_downstream(render(down, RSU), 1.1)
        self.assertEqual(
            delivered(obu2.on_downstream(render(down_relayed, OBU1), 1.1)), [reply]
        )


class ClientTableTests(SynchronousTestCase):
    def test_capacity_evicts_least_recently_seen(self):
        table = ClientTable(capacity=2, ttl_s=100)
        table.learn(HOST1, OBU1, 1.0)
        table.learn(HOST2, OBU2, 2.0)
        table.learn(HOST1, OBU1, 3.0)  # refreshed: HOST2 is now the stalest
        table.learn(HOST3, OBU3, 4.0)
        self.assertEqual(
            [table.lookup(h, 5.0) for h in (HOST1, HOST2, HOST3)], [OBU1, None, OBU3]
        )
        self.assertEqual((len(table), table.evicted), (2, 1))

    def test_entries_expire(self):
        table = ClientTable(capacity=10, ttl_s=300)
        table.learn(HOST1, OBU1, 0.0)
        table.learn(HOST2, OBU2, 100.0)
        self.assertEqual(table.lookup(HOST1, 300.0), OBU1)
        self.assertIsNone(table.lookup(HOST1, 300.5))
        table.expire(400.5)
        self.assertEqual(len(table), 0)

    def test_rsu_floods_again_after_expiry(self):
        routing = FakeRsuRouting({OBU1: OBU1, OBU2: OBU2})
        dp = RsuDataPlane(RSU, routing, IdentityCodec(), client_ttl_s=10)
        dp.on_upstream(upstream_msg(OBU2, ether(BROADCAST, HOST2), OBU2, RSU), 0.0)
        self.assertEqual(
            set(copies(dp.on_tap_frame(ether(HOST2, HOST_RSU), 5))), {OBU2}
        )
        self.assertEqual(
            set(copies(dp.on_tap_frame(ether(HOST2, HOST_RSU), 20))), {OBU1, OBU2}
        )

    def test_rsu_capacity_is_bounded(self):
        dp = RsuDataPlane(RSU, FakeRsuRouting({}), IdentityCodec(), client_capacity=3)
        for i in range(10):
            dp.on_tap_frame(ether(BROADCAST, bytes([2, 0, 0, 0, 0, i])), float(i))
        self.assertEqual(
            sorted(dp.status(10.0)),
            [format_mac(bytes([2, 0, 0, 0, 0, i])) for i in (7, 8, 9)],
        )


class HeldUntilUpstreamTests(SynchronousTestCase):
    """TAP frames read before the first upstream wait for it (a bounded
    while), instead of being lost to the host's retry a second later."""

    def test_frames_go_out_when_the_upstream_comes(self):
        routing = FakeObuRouting(upstream=None)
        dp = ObuDataPlane(ME, routing, IdentityCodec(), hold_s=1.0)
        frame = bytearray(ether(b"\xff" * 6, HOST1, b"who-has"))
        self.assertEqual(dp.on_tap_frame(frame, 1.0), [])
        frame[:] = b"\x00" * len(frame)  # the TAP reuses its buffer
        self.assertEqual(dp.counters["held"], 1)
        routing.upstream = OBU1
        (action,) = dp.on_upstream_ready(1.5)
        self.assertEqual(action.next_hop, OBU1)
        self.assertIn(b"who-has", bytes(action.payload))
        self.assertEqual(dp.counters["tunnelled"], 1)
        self.assertEqual(dp.counters["tap_frames"], 1)
        self.assertEqual(dp.on_upstream_ready(1.6), [])

    def test_old_and_excess_frames_are_dropped_and_counted(self):
        routing = FakeObuRouting(upstream=None)
        dp = ObuDataPlane(ME, routing, IdentityCodec(), hold_s=1.0)
        for n in range(ObuDataPlane.HOLD_FRAMES + 3):
            dp.on_tap_frame(ether(b"\xff" * 6, HOST1, b"f%d" % n), 1.0)
        self.assertEqual(dp.drops["no_upstream"], 3)
        dp.expire(2.5)  # past hold_s: all of them
        self.assertEqual(dp.drops["no_upstream"], 3 + ObuDataPlane.HOLD_FRAMES)
        routing.upstream = OBU1
        self.assertEqual(dp.on_upstream_ready(2.6), [])

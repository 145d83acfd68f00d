"""The channel's counters against a plain model that visits every link with
every frame (issue 5): the medium derives ``frames_sent``, ``bytes_sent``
and ``frames_filtered`` instead of counting them link by link, and the
figures must come out the same through attach, detach, link changes and
removal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import BROADCAST, stable_local_mac
from vanet.sim.channel import ChannelMedium, ChannelParams

NAMES = ("a", "b", "c", "d")
STRANGER = stable_local_mac("stranger")
MULTICAST = bytes.fromhex("01005e000001")


class Port:
    def __init__(self, name: str) -> None:
        self.name = name
        self.mac = stable_local_mac(name)
        self.frames: list[bytes] = []

    def receive(self, frame: bytes) -> None:
        self.frames.append(frame)


class Model:
    """Every frame walks every link leaving its sender, as the rules say
    (channel.py docstring): offered to an attached receiver, then filtered
    unless group-addressed or for that receiver's MAC."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str], dict[str, int]] = {}
        self.filtered_at: dict[str, int] = dict.fromkeys(NAMES, 0)
        self.attached: set[str] = set()

    def set_link(self, a: str, b: str) -> None:
        self.links.setdefault((a, b), {"sent": 0, "bytes": 0, "filtered": 0})

    def remove_link(self, a: str, b: str) -> None:
        self.links.pop((a, b), None)

    def transmit(self, sender: str, frame: bytes) -> None:
        if len(frame) < 6:
            return
        for (a, b), counts in self.links.items():
            if a != sender or b not in self.attached:
                continue
            counts["sent"] += 1
            counts["bytes"] += len(frame)
            if not frame[0] & 1 and frame[:6] != stable_local_mac(b):
                counts["filtered"] += 1
                self.filtered_at[b] += 1

    def delivered(self, a: str, b: str) -> int:
        counts = self.links[(a, b)]
        return counts["sent"] - counts["filtered"]


names = st.sampled_from(NAMES)
destinations = st.sampled_from(
    [BROADCAST, MULTICAST, STRANGER, *(stable_local_mac(n) for n in NAMES)]
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), names, destinations, st.integers(0, 30)),
        st.tuples(st.just("attach"), names),
        st.tuples(st.just("detach"), names),
        st.tuples(st.just("link"), names, names),
        st.tuples(st.just("unlink"), names, names),
        st.tuples(st.just("wait"), st.floats(0, 0.01)),
    ),
    max_size=60,
)


class CountersTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(operations)
    def test_counters_match_a_link_by_link_model(self, ops) -> None:
        clock = task.Clock()
        medium = ChannelMedium(clock, seed=3)
        model = Model()
        ports = {name: Port(name) for name in NAMES}
        for a in NAMES:
            for b in NAMES:
                if a < b:
                    medium.set_link(a, b, ChannelParams(latency_ms=1))
                    model.set_link(a, b)
        for op in ops:
            kind = op[0]
            if kind == "send":
                _, sender, dst, size = op
                frame = (dst + stable_local_mac(sender) + bytes(size))[: size + 6]
                medium.transmit(ports[sender], frame)
                model.transmit(sender, frame)
            elif kind == "attach":
                medium.attach(ports[op[1]])
                model.attached.add(op[1])
            elif kind == "detach":
                medium.detach(ports[op[1]])
                model.attached.discard(op[1])
            elif kind == "link" and op[1] != op[2]:
                medium.set_link(op[1], op[2], ChannelParams(latency_ms=2))
                model.set_link(op[1], op[2])
            elif kind == "unlink":
                medium.remove_link(op[1], op[2])
                model.remove_link(op[1], op[2])
            elif kind == "wait":
                clock.advance(op[1])
        clock.advance(1)
        self.assertEqual(
            {(a, b) for a, b, _ in medium.links()}, set(model.links), "links"
        )
        for (a, b), counts in model.links.items():
            stats = medium.link_stats(a, b)
            self.assertEqual(
                (stats["frames_sent"], stats["bytes_sent"], stats["frames_filtered"]),
                (counts["sent"], counts["bytes"], counts["filtered"]),
                f"{a} -> {b}",
            )
            self.assertEqual(
                stats["frames_delivered"] + stats["frames_dropped"],
                model.delivered(a, b),
            )
        for entry in medium.channel_table():
            counts = model.links[(entry["from"], entry["to"])]
            self.assertEqual(entry["frames_filtered"], counts["filtered"])
            self.assertEqual(entry["frames_sent"], counts["sent"])
        for name in NAMES:
            self.assertEqual(
                medium.node_stats(name)["frames_filtered"], model.filtered_at[name]
            )

    def test_unicast_reaches_every_link_to_that_mac(self) -> None:
        # Two receivers sharing one MAC (e.g. a cloned vehicle): both hear
        # a frame for it, in link order.
        clock = task.Clock()
        medium = ChannelMedium(clock, seed=1)
        a, b, c = Port("a"), Port("b"), Port("c")
        c.mac = b.mac
        for port in (a, b, c):
            medium.attach(port)
        medium.set_link("a", "b", ChannelParams(latency_ms=1))
        medium.set_link("a", "c", ChannelParams(latency_ms=1))
        frame = b.mac + a.mac + b"\x30\x30"
        medium.transmit(a, frame)
        clock.advance(0.01)
        self.assertEqual((b.frames, c.frames), ([frame], [frame]))
        self.assertEqual(medium.link_stats("a", "c")["frames_filtered"], 0)

    def test_filtered_frames_stay_counted_after_the_link_is_cut(self) -> None:
        clock = task.Clock()
        medium = ChannelMedium(clock, seed=1)
        a, b, c = Port("a"), Port("b"), Port("c")
        for port in (a, b, c):
            medium.attach(port)
        medium.set_link("a", "b", ChannelParams(latency_ms=1))
        medium.set_link("a", "c", ChannelParams(latency_ms=1))
        medium.transmit(a, b.mac + a.mac + b"\x30\x30")
        medium.transmit(a, b.mac + a.mac + b"\x30\x30")
        self.assertEqual(medium.link_stats("a", "c")["frames_filtered"], 2)
        medium.remove_link("a", "c")
        medium.transmit(a, b.mac + a.mac + b"\x30\x30")
        self.assertEqual(medium.node_stats("c")["frames_filtered"], 2)
        medium.set_link("a", "c", ChannelParams(latency_ms=1))
        self.assertEqual(medium.link_stats("a", "c")["frames_filtered"], 0)
        medium.transmit(a, b.mac + a.mac + b"\x30\x30")
        self.assertEqual(medium.node_stats("c")["frames_filtered"], 3)
        clock.advance(0.01)
        self.assertEqual(len(b.frames), 4)

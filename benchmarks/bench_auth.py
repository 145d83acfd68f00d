"""What authentication costs per control message (docs/protocol.md §2.7).

    python benchmarks/bench_auth.py            # about 20 s
    python benchmarks/bench_auth.py --quick    # about 3 s, noisier

Times ``vanet.auth.AuthGate`` on parsed frames, as a node's engine calls
it, in one run: an OBU admitting a signed heartbeat the first time
(signature and hash chain checked) and its copies (the chain only: at a
hop count already seen or a few hops farther, a lookup; at one far
nearer, a walk of up to 31 hashes), an RSU and a relaying OBU admitting a signed reply (chain,
replay window, signature), and the signing side (an RSU's heartbeat: a
fresh chain and a signature; an OBU's reply: a signature). Beside them,
for scale, ``wire.parse`` of the same frames, which every frame costs with
or without authentication. Each figure is the median of single calls, in
microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from vanet.auth import AuthGate
from vanet.identity import DEFAULT_CHAIN_LENGTH, Identity, TrustStore
from vanet.wire import parse, writer_for
from vanet.wire.views import SignedHeartbeatView

RSU = bytes.fromhex("020000000001")
RELAY = bytes.fromhex("020000000011")
OBU = bytes.fromhex("020000000012")
HISTORY = 10
PERIOD_MS = 1000


def median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def timed(function, items) -> list[int]:
    """Nanoseconds of ``function(item)`` for each item, one call each."""
    clock = time.perf_counter_ns
    out = []
    for item in items:
        started = clock()
        function(item)
        out.append(clock() - started)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n = 300 if args.quick else 2000

    identities = {mac: Identity.generate() for mac in (RSU, RELAY, OBU)}
    roles = {RSU: "rsu", RELAY: "obu", OBU: "obu"}
    trust = TrustStore.of({mac: (roles[mac], i) for mac, i in identities.items()})

    def gate(mac: bytes, history: int = HISTORY) -> AuthGate:
        # Each node has its own trust store (its own verification cache).
        return AuthGate(
            mac,
            roles[mac],
            identities[mac],
            TrustStore(trust.entries),
            history=history,
        )

    rsu, relay, obu = gate(RSU, n + 1), gate(RELAY, n + 1), gate(OBU, n + 1)
    write_hb = writer_for("signed_heartbeat").write
    write_forward = writer_for("signed_heartbeat_forward").write
    write_reply = writer_for("signed_heartbeat_reply").write

    # The RSU signs n heartbeats (seq 0..n-1): the signing cost.
    buf = bytearray()
    rsu_frames = []

    def sign_heartbeat(seq: int) -> None:
        fields = rsu.heartbeat_fields(RSU, seq, seq * PERIOD_MS, 1)
        size = write_hb(buf, RSU, seq * PERIOD_MS, seq, 1, RSU, *fields)
        rsu_frames.append(bytes(buf[:size]))

    sign_hb = timed(sign_heartbeat, range(n))
    parse_hb = timed(parse, rsu_frames)

    # The relay admits each the first time (signature + chain) ...
    views = [parse(f)[0] for f in rsu_frames]
    first_hb = timed(relay.admit, views)
    # ... and a copy at the same hop count (a dictionary lookup) ...
    copies = [parse(f)[0] for f in rsu_frames]
    copy_hb = timed(relay.admit, copies)
    # ... and one a hop farther out (hops 2, from another neighbour): the
    # first check remembered the next few chain values, so a lookup too.
    forwards = []
    for view in views:
        size = write_forward(buf, view, OBU, 2, relay.relay_hash(view, 2))
        forwards.append(parse(bytes(buf[:size]))[0])
    copy_next = timed(relay.admit, forwards)
    # The worst copy: a hop count far below any seen (hops 1 first seen at
    # the far end of the chain), a walk of chain_length - 1 hashes.
    far = gate(OBU, n + 1)
    far_first, far_copies = [], []
    last = DEFAULT_CHAIN_LENGTH
    for view in views:
        hb = parse(bytes(view.raw))[0]
        hb.__class__ = SignedHeartbeatView
        size = write_forward(buf, hb, RELAY, last, relay.relay_hash(hb, last))
        far_first.append(parse(bytes(buf[:size]))[0])
        far_copies.append(parse(bytes(view.raw))[0])
    timed(far.admit, far_first)
    copy_walk = timed(far.admit, far_copies)

    # The OBU (two hops out) answers each heartbeat as relayed to it: the
    # signing cost of a reply; the relay then admits it, and the RSU.
    obu_views = [parse(bytes(f.raw))[0] for f in forwards]
    for view in obu_views:
        view.__class__ = SignedHeartbeatView
    timed(obu.admit, obu_views)
    replies = []

    def sign_reply(hb) -> None:
        size = write_reply(
            buf, hb, OBU, hb.hop_hash, obu.reply_signature(hb), OBU, RELAY
        )
        replies.append(bytes(buf[:size]))

    sign_rp = timed(sign_reply, obu_views)
    parse_rp = timed(parse, replies)
    relay_rp = timed(relay.admit, [parse(r)[0] for r in replies])
    rsu_rp = timed(rsu.admit, [parse(r)[0] for r in replies])
    replayed = timed(rsu.admit, [parse(r)[0] for r in replies])
    # What was timed is what was meant: every frame went the way its row says.
    for name, gate_, expected in (
        ("relay", relay, {}),
        ("rsu", rsu, {"replay": n}),
        ("far", far, {}),
    ):
        if dict(gate_.drops) != expected:
            print(f"unexpected drops at {name}: {dict(gate_.drops)}", file=sys.stderr)
            return 1
    if rsu.counters["reply_verified"] != n or relay.counters["reply_verified"] != n:
        print("not every reply verified", file=sys.stderr)
        return 1

    rows = [
        ("heartbeat", "parse (every frame, for scale)", parse_hb),
        ("heartbeat", "RSU signs (fresh chain + signature)", sign_hb),
        ("heartbeat", "first copy: signature + chain", first_hb),
        ("heartbeat", "copy, hop count seen before", copy_hb),
        ("heartbeat", "copy, 1 hop farther (value remembered)", copy_next),
        (
            "heartbeat",
            f"copy, {DEFAULT_CHAIN_LENGTH - 1} hops nearer ({DEFAULT_CHAIN_LENGTH - 1} hashes)",
            copy_walk,
        ),
        ("reply", "parse (every frame, for scale)", parse_rp),
        ("reply", "OBU signs its reply", sign_rp),
        ("reply", "relaying OBU admits (chain + window + signature)", relay_rp),
        ("reply", "RSU admits (chain + window + signature)", rsu_rp),
        ("reply", "RSU refuses a replay (window)", replayed),
    ]
    print(f"median of {n} single calls each, µs")
    print(f"{'message':10} {'what':52} {'µs':>8}")
    for kind, what, samples in rows:
        print(f"{kind:10} {what:52} {median_us(samples):8.2f}")
    ratio = median_us(first_hb) / median_us(copy_hb)
    print(f"heartbeat first copy / copy: {ratio:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

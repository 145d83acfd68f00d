"""Forged routing frames from a third namespace against real ``twistd``
nodes (issue 10, Done means 1). ``AttackTests``: the rows hardening alone
can stop, the nodes running without authentication (the default,
``[security] authenticate = no``). ``SignedAttackTests``: every row again
with ``authenticate = yes`` on both nodes (keys and a trust file written
here), the attacker sending plain and signed forms, forged and replayed
(see that class).

Each test puts an RSU, an OBU and an attacker on one bridged Ethernet
segment, starts real ``twistd -n vanet-rsu|vanet-obu`` nodes with the
``packet`` transport and a 200 ms heartbeat period, and waits until the
OBU's upstream and gateway are the RSU and the RSU routes to the OBU
directly. The attacker is an AF_PACKET socket (EtherType 0x3030) whose
frames are built here with ``struct`` from docs/protocol.md §2 alone,
sent from the attacker's own interface MAC (it never spoofs the Ethernet
source: that would attack the bridge, not the protocol). While it sends,
the OBU pings the RSU's TAP 50 times, 50 ms apart, and the test samples
both nodes' control endpoints. Each attack must leave:

- at most 1 of the 50 pings lost;
- the OBU's upstream and gateway, and both nodes' routes (target, next
  hop, hops), as they were, in every sample during the attack and for
  eight heartbeat periods after it;
- each refused frame counted in ``status()["drops"]`` under its named
  reason (``bad_hops``, ``bad_source``, ``bad_sender``, ``seq_jump``,
  ``bad_duration``; or the ``period_clamped`` counter), at least once per
  distinct forged frame.

A positive control (an invented RSU with plausible fields, which must
still be accepted without authentication) shows that the attacker's frames
reach the OBU and are acted on, so a "nothing changed" above is a refusal,
not a frame that never arrived.

Forged frames carry one defect each and are plausible otherwise: a
heartbeat not sent by its ``source`` carries ``hops = 2`` (the attacker
poses as a relay one hop from that RSU), and a forged reply to the RSU
carries the ``seq`` and ``duration`` of the RSU's newest heartbeat, sniffed
off the segment, so that only the field under test is wrong.

What remains possible without authentication
--------------------------------------------
Hardening refuses what is impossible on its face; it cannot refuse a lie
that is plausible, because without signatures nothing tells an OBU or an
RSU who wrote a heartbeat or a reply. With ``authenticate = no`` these
rows of the issue's table (and their variants) stay open:

- **A forged heartbeat from an invented RSU with a plausible
  ``hops >= 1``** (and a ``seq`` and ``duration`` that move forward
  plausibly). It is indistinguishable from a real RSU one hop beyond the
  attacker. The OBU relays and answers it, and takes it as its gateway
  whenever it is the best RSU by the gateway rule (docs/protocol.md §6.1),
  e.g. when it claims fewer hops than the real RSU is away, or when the
  real one is lost; the OBU's upstream data then goes to the attacker.
- **The real RSU's ``source`` with the predicted next ``seq`` and
  ``duration``, sent early.** The RSU's period and clock are public (every
  heartbeat carries them), so the next heartbeat can be predicted exactly
  and sent before the RSU sends it; the forged copy arrives first, is the
  one the OBU holds, and makes the attacker its way back and, by arrival
  time, its upstream. The real heartbeat then looks like a slower copy.
  Only a signature over ``source``, ``seq`` and ``duration`` that the
  attacker cannot make stops it.
- **Forged replies with plausible hops.** A reply whose ``sender`` is any
  unicast MAC, relayed by the attacker with a hop count the RSU cannot
  refute (``hops >= 2`` through a relay it knows of no reason to doubt),
  gives the RSU a route to that vehicle through the attacker: to an
  invented vehicle (a phantom route), or a second route to a real one that
  wins whenever it ranks first (the real path is lost, or longer than the
  claimed hops). Downstream data for that vehicle then goes to the
  attacker. Only a reply signed by its ``sender`` stops it.

Seq jumps and absurd durations are refused only in their absurd form; an
attacker who stays within the plausible window and step is in the second
row above.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time

import attrs
from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from tests.test_twistd_netns import (
    PERIOD_MS,
    TAP_ADDRESSES,
    ip_of,
    start_node,
    wait_converged,
)
from vanet.identity import (
    Identity,
    chain_step,
    heartbeat_signed_bytes,
    trust_line,
)

ETHERTYPE_VANET = 0x3030
BROADCAST = b"\xff" * 6
ZERO = b"\x00" * 6
U32_MAX = 0xFFFFFFFF

# docs/protocol.md §2.1: dst, src, marker 0x3030, type, subtype.
HEADER = struct.Struct("!6s6sHBB")
# §2.2 heartbeat body: duration (16 B), seq u32, hops u32, source MAC.
HEARTBEAT_BODY = struct.Struct("!16sII6s")
# §2.2 reply body: the heartbeat's 30 bytes, then sender MAC.
REPLY_BODY = struct.Struct("!16sII6s6s")
HEARTBEAT_LEN = HEADER.size + HEARTBEAT_BODY.size  # 46
REPLY_LEN = HEADER.size + REPLY_BODY.size  # 52

# Invented RSUs, one per test, locally administered unicast.
INVENTED = {
    "control": bytes.fromhex("02a77ac0000a"),
    "hops0": bytes.fromhex("02a77ac00001"),
    "duration": bytes.fromhex("02a77ac00004"),
}

PINGS = 50
PING_INTERVAL_S = 0.05
MAX_LOST = 1
FLOOD_INTERVAL_S = 0.02  # the attacker's steady rate: 50 frames a second
SAMPLE_INTERVAL_S = 0.1
AFTER_S = 8 * PERIOD_MS / 1000  # how long "after" is watched
PERIOD_CLAMP_SANE_S = 3600.0  # a learnt period above this is unbounded


def heartbeat(
    src: bytes, source: bytes, seq: int, hops: int, duration_ms: int
) -> bytes:
    """A heartbeat (type 0, subtype 0), broadcast by ``src``."""
    return HEADER.pack(BROADCAST, src, ETHERTYPE_VANET, 0, 0) + HEARTBEAT_BODY.pack(
        duration_ms.to_bytes(16, "big"), seq & U32_MAX, hops, source
    )


def reply(
    dst: bytes,
    src: bytes,
    source: bytes,
    seq: int,
    hops: int,
    duration_ms: int,
    sender: bytes,
) -> bytes:
    """A heartbeat reply (type 0, subtype 1) from ``src`` to ``dst``."""
    return HEADER.pack(dst, src, ETHERTYPE_VANET, 0, 1) + REPLY_BODY.pack(
        duration_ms.to_bytes(16, "big"), seq & U32_MAX, hops, source, sender
    )


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


class Attacker:
    """A raw AF_PACKET socket on the attacker's interface. A thread reads
    every vanet frame on the segment: it notes the real RSU's newest
    heartbeat (seq, duration) and the replies sent to the attacker."""

    def __init__(self, ns: str, interface: str, rsu_mac: bytes) -> None:
        self.rsu_mac = rsu_mac
        sock = netns.ns_socket(
            ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE_VANET)
        )
        sock.bind((interface, ETHERTYPE_VANET))
        sock.settimeout(0.05)
        self.sock = sock
        self.mac: bytes = sock.getsockname()[4]
        self.rsu_heartbeat: tuple[int, int] | None = None  # seq, duration
        self.heard: list[bytes] = []  # frames from others, in order
        self.rsu_signed: list[bytes] = []  # the RSU's signed heartbeats
        self.sent: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._stop.set()
        self._reader.join(5)
        self.sock.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if frame[6:12] == self.mac:
                continue  # our own transmission
            if frame[12:14] != b"\x30\x30":
                continue
            with self._lock:
                self.heard.append(frame)
                # A heartbeat, plain or signed (the same first 30 body bytes).
                if (
                    frame[14] == 0
                    and frame[15] in (0, 2)
                    and len(frame) >= HEARTBEAT_LEN
                    and frame[6:12] == self.rsu_mac
                ):
                    duration, seq, _hops, source = HEARTBEAT_BODY.unpack(
                        frame[16:HEARTBEAT_LEN]
                    )
                    if source == self.rsu_mac:
                        self.rsu_heartbeat = (seq, int.from_bytes(duration, "big"))
                        if frame[15] == 2:
                            self.rsu_signed.append(frame)

    def newest_rsu_heartbeat(self, timeout: float = 5) -> tuple[int, int]:
        """(seq, duration) of the newest heartbeat the RSU itself sent."""
        return netns.wait_for(
            lambda: self.rsu_heartbeat, timeout, "a heartbeat from the RSU"
        )

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)
        self.sent.append(frame)

    def frames_heard(self) -> list[bytes]:
        with self._lock:
            return list(self.heard)


class AttackHarness(SynchronousTestCase):
    """An RSU, an OBU and an attacker on one segment; ``attack`` runs one."""

    #: [security] authenticate of both nodes
    authenticate = False

    def setUp(self) -> None:
        netns.skip_unless_root_netns()
        netns.skip_unless_tun()
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.segment = netns.use(self, netns.segment(("rsu", "obu", "attacker")))
        ns = self.segment.namespaces
        self.security = self._keys() if self.authenticate else None
        self.rsu = self._start("rsu", "rsu", TAP_ADDRESSES["rsu"])
        self.obu = self._start("obu", "obu", TAP_ADDRESSES["obu1"])
        wait_converged({"rsu": self.rsu, "obu": self.obu})
        self.rsu_mac = mac_bytes(self.rsu.status()["mac"])
        self.obu_mac = mac_bytes(self.obu.status()["mac"])
        self.rsu_tap_ip = ip_of(TAP_ADDRESSES["rsu"])
        self.attacker = Attacker(
            ns["attacker"], self.segment.interfaces["attacker"], self.rsu_mac
        )
        self.addCleanup(self.attacker.close)
        # ARP through the tunnel is resolved before the counted pings.
        netns.wait_for(
            lambda: (
                netns.run_in(
                    ns["obu"], ["ping", "-c", "1", "-W", "1", self.rsu_tap_ip]
                ).returncode
                == 0
            ),
            15,
            "a first ping reply from the RSU's TAP",
            interval=0.1,
        )
        self.baseline = self.wait_settled()

    def _keys(self) -> dict[str, dict[str, str]]:
        """Key files for the RSU and the OBU and a trust file naming both
        (by their interfaces' MACs, the nodes' own with transport packet),
        as vanet-keygen writes them; per node, its ``[security]`` keys."""
        trust_lines, security = [], {}
        for name in ("rsu", "obu"):
            mac = netns.link_info(
                self.segment.interfaces[name], self.segment.namespaces[name]
            ).mac
            identity = Identity.generate()
            key = os.path.join(self.workdir, f"{name}.key")
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(identity.private_pem())
            trust_lines.append(trust_line(mac_bytes(mac), name, identity.public_bytes))
            security[name] = {"authenticate": "yes", "identity": key}
        trust = os.path.join(self.workdir, "trust")
        with open(trust, "w", encoding="utf-8") as f:
            f.write("\n".join(trust_lines) + "\n")
        for keys in security.values():
            keys["trust"] = trust
        return security

    def _start(self, name: str, role: str, tap_address: str):
        extra = None
        if self.security is not None:
            extra = {"security": self.security[name]}
        return start_node(
            self,
            self.workdir,
            self.segment.namespaces[name],
            self.segment.interfaces[name],
            role,
            name,
            "packet",
            tap_address,
            extra,
        )

    # -- what an operator looks at ------------------------------------------

    def snapshot(self) -> dict:
        """The victim's routing state: the OBU's upstream and gateway, and
        both nodes' routes as (next hop, hops) per target."""
        obu = self.obu.status()
        rsu = self.rsu.status()
        return {
            "obu upstream": obu["upstream"],
            "obu gateway": obu["gateway"],
            "obu routes": {
                t: (r["next_hop"], r["hops"]) for t, r in obu["routes"].items()
            },
            "rsu routes": {
                t: (r["next_hop"], r["hops"]) for t, r in rsu["routes"].items()
            },
        }

    def wait_settled(self) -> dict:
        """The state before the attack: the OBU upstream of and gatewayed
        by the RSU, the RSU routing to the OBU directly, stable over two
        samples a period apart."""
        rsu, obu = mac_text(self.rsu_mac), mac_text(self.obu_mac)
        want = {
            "obu upstream": rsu,
            "obu gateway": rsu,
            "rsu routes": {obu: (obu, 1)},
        }
        previous: list[dict] = []

        def settled():
            state = self.snapshot()
            ok = all(state[k] == v for k, v in want.items())
            stable = bool(previous) and previous[-1] == state
            previous.append(state)
            return state if ok and stable else None

        return netns.wait_for(
            settled,
            10,
            f"the victim to settle on {want}",
            interval=PERIOD_MS / 1000,
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Drops and counters of both nodes."""
        return {
            name: {
                "drops": dict(status["drops"]),
                "counters": dict(status["counters"]),
                "sources": status.get("sources", {}),
            }
            for name, status in (
                ("obu", self.obu.status()),
                ("rsu", self.rsu.status()),
            )
        }

    # -- the attack harness --------------------------------------------------

    def attack(self, send_some, check, interval: float = FLOOD_INTERVAL_S) -> None:
        """Run ``send_some(attacker, i)`` every ``interval`` seconds (``i``
        from 0; it returns False once it has nothing more to send) while
        the OBU pings the RSU's TAP; sample the victim during the attack
        and for ``AFTER_S`` after. Then ``check(outcome)`` adds the
        attack's own expectations, and the test fails once, listing every
        expectation not met: ping, routing state and counters together."""
        before = self.counts()
        ping = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.segment.namespaces["obu"],
                "ping",
                "-q",
                "-n",
                "-c",
                str(PINGS),
                "-i",
                str(PING_INTERVAL_S),
                "-W",
                "1",
                self.rsu_tap_ip,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.addCleanup(_reap, ping)
        stop = threading.Event()
        errors: list[BaseException] = []

        def flood():
            i = 0
            next_at = time.monotonic()
            try:
                while not stop.is_set():
                    if send_some(self.attacker, i) is False:
                        return
                    i += 1
                    next_at += interval
                    stop.wait(max(0.0, next_at - time.monotonic()))
            except BaseException as e:  # reported by the test, not lost
                errors.append(e)

        sender = threading.Thread(target=flood, daemon=True)
        started = time.monotonic()
        sender.start()
        samples: list[tuple[str, float, dict]] = []
        try:
            while ping.poll() is None:
                samples.append(("during", time.monotonic() - started, self.snapshot()))
                time.sleep(SAMPLE_INTERVAL_S)
        finally:
            stop.set()
            sender.join(5)
        output = ping.communicate(timeout=10)[0]
        ended = time.monotonic()
        while time.monotonic() - ended < AFTER_S:
            samples.append(("after", time.monotonic() - started, self.snapshot()))
            time.sleep(SAMPLE_INTERVAL_S)
        if errors:
            raise errors[0]
        self.assertTrue(self.rsu.alive(), self.rsu.log_tail())
        self.assertTrue(self.obu.alive(), self.obu.log_tail())
        self.assertTrue(self.attacker.sent, "the attacker sent nothing")
        self.assertTrue(
            any(when == "during" for when, _, _ in samples),
            "no sample was taken during the attack",
        )

        outcome = Outcome(before, self.counts(), list(self.attacker.sent))
        received = _ping_received(output)
        outcome.expect(
            received >= PINGS - MAX_LOST,
            f"ping OBU -> RSU TAP: {received} of {PINGS} answered during the "
            f"attack (at most {MAX_LOST} may be lost)",
        )
        changed = [
            (when, at, {k: v for k, v in state.items() if v != self.baseline[k]})
            for when, at, state in samples
        ]
        changed = [(when, at, diff) for when, at, diff in changed if diff]
        outcome.expect(
            not changed,
            f"the victim's routing state changed in {len(changed)} of "
            f"{len(samples)} samples; before the attack {self.baseline}; "
            "first changes:\n"
            + "\n".join(
                f"    {when} t={at:.2f}s: {diff}" for when, at, diff in changed[:8]
            ),
        )
        check(outcome)
        if outcome.problems:
            self.fail(
                f"{len(outcome.problems)} expectation(s) not met:\n- "
                + "\n- ".join(outcome.problems)
                + f"\nOBU drops {outcome.after['obu']['drops']}"
                + f"\nRSU drops {outcome.after['rsu']['drops']}"
            )

    def forwarded_or_answered(self, source: bytes) -> list[bytes]:
        """Frames the OBU sent about heartbeats of ``source``: its
        rebroadcasts and its replies (to the attacker or anyone)."""
        return [
            f
            for f in self.attacker.frames_heard()
            if f[6:12] == self.obu_mac
            and f[14] == 0
            and f[15] in (0, 1)
            and len(f) >= HEARTBEAT_LEN
            and f[40:46] == source
        ]


class AttackTests(AttackHarness):
    """The rows hardening alone can stop, ``authenticate = no``."""

    # -- positive control ------------------------------------------------

    def test_0_control_plausible_invented_rsu_is_heard(self):
        """An invented RSU with plausible fields, one hop beyond the
        attacker: without authentication the OBU must take it as a real
        RSU (it relays and answers it), which shows the attacker's frames
        reach the OBU and are acted on. It is two hops away, so it does
        not displace the real RSU, one hop away."""
        invented = INVENTED["control"]

        def send_some(attacker, i):
            attacker.send(heartbeat(attacker.mac, invented, i, 2, i * PERIOD_MS))

        def check(outcome):
            outcome.expect_reached("obu", len(outcome.sent))
            answers = [
                f
                for f in self.forwarded_or_answered(invented)
                if f[15] == 1 and f[:6] == self.attacker.mac
            ]
            outcome.expect(answers, "the OBU did not answer the invented RSU")
            outcome.expect(
                mac_text(invented) in outcome.after["obu"]["sources"],
                "the OBU does not list the invented RSU among its sources",
            )

        self.attack(send_some, check, interval=PERIOD_MS / 1000)

    # -- 1: hops = 0 ----------------------------------------------------

    def test_1_invented_rsu_with_hops_0(self):
        """Heartbeats of an invented RSU claiming ``hops = 0`` (closer than
        any RSU can be): refused as ``bad_hops``, neither relayed nor
        answered, and the OBU keeps the real RSU."""
        invented = INVENTED["hops0"]

        def send_some(attacker, i):
            attacker.send(heartbeat(attacker.mac, invented, i, 0, i * PERIOD_MS))

        def check(outcome):
            distinct = len(set(outcome.sent))
            outcome.expect_reached("obu", distinct)
            outcome.expect_grew("obu", ("bad_hops",), distinct, "hops = 0")
            relayed = self.forwarded_or_answered(invented)
            outcome.expect(
                not relayed,
                f"the OBU relayed or answered {len(relayed)} forged heartbeats",
            )
            outcome.expect(
                mac_text(invented) not in outcome.after["obu"]["sources"],
                "the OBU holds the invented RSU as a source",
            )

        self.attack(send_some, check)

    # -- 2: group and zero addresses ----------------------------------------

    def test_2_broadcast_and_zero_source_and_sender(self):
        """Heartbeats whose ``source`` is broadcast or zero, to the OBU, and
        replies whose ``sender`` is broadcast or zero, to the RSU: refused
        as ``bad_source`` and ``bad_sender``; neither node learns anything
        about such a MAC."""
        seq0, _ = self.attacker.newest_rsu_heartbeat()
        bad = (BROADCAST, ZERO)

        def send_some(attacker, i):
            seq, duration = attacker.rsu_heartbeat
            address = bad[i % 2]
            if i % 4 < 2:
                n = seq0 + i
                attacker.send(heartbeat(attacker.mac, address, n, 2, n * PERIOD_MS))
            else:
                # A relayed reply from a vehicle two hops away: plausible,
                # but for its sender.
                attacker.send(
                    reply(
                        self.rsu_mac,
                        attacker.mac,
                        self.rsu_mac,
                        seq,
                        2,
                        duration,
                        address,
                    )
                )

        def check(outcome):
            heartbeats = {f for f in outcome.sent if f[15] == 0}
            replies = {f for f in outcome.sent if f[15] == 1}
            outcome.expect_grew("obu", ("bad_source",), len(heartbeats), "source")
            outcome.expect_grew("rsu", ("bad_sender",), len(replies), "sender")
            rsu_routes = self.rsu.status()["routes"]
            for address in map(mac_text, bad):
                outcome.expect(
                    address not in outcome.after["obu"]["sources"],
                    f"the OBU holds {address} as a source",
                )
                outcome.expect(
                    address not in rsu_routes,
                    f"the RSU has a route to {address}: {rsu_routes[address]}"
                    if address in rsu_routes
                    else "",
                )
            for address in bad:
                relayed = self.forwarded_or_answered(address)
                outcome.expect(
                    not relayed,
                    f"the OBU relayed or answered {len(relayed)} heartbeats "
                    f"of {mac_text(address)}",
                )

        self.attack(send_some, check)

    # -- 3: seq jumps -------------------------------------------------------

    def seq_jump(self, forged_seq, reason: str = "seq_jump") -> None:
        """ONE heartbeat with the real RSU's ``source`` and
        ``forged_seq(newest seq)``, relayed-looking (hops 2), its
        ``duration`` consistent with the step: refused as ``seq_jump``; the
        real RSU stays live and the OBU's newest seq for it is one the RSU
        really sent (``old_seq`` for a seq behind the oldest held)."""
        rsu = self.rsu_mac
        self.attacker.newest_rsu_heartbeat()

        def send_some(attacker, i):
            if i < 10:
                return True  # the first fifth of the ping undisturbed
            seq, duration = attacker.rsu_heartbeat
            forged = forged_seq(seq) & U32_MAX
            step = (forged - seq) & U32_MAX
            attacker.send(
                heartbeat(attacker.mac, rsu, forged, 2, duration + step * PERIOD_MS)
            )
            return False

        def check(outcome):
            self.assertEqual(len(outcome.sent), 1)
            outcome.expect_reached("obu", 1)
            outcome.expect_grew("obu", (reason,), 1, "the seq jump")
            source = self.obu.status()["sources"].get(mac_text(rsu))
            next_seq = self.rsu.status()["next_seq"]
            newest = None if source is None else source["newest_seq"]
            outcome.expect(
                newest is not None and (next_seq - 1 - newest) & U32_MAX < 5,
                f"the OBU's newest seq of the real RSU is {newest}, and the "
                f"RSU has sent up to {next_seq - 1}",
            )

        self.attack(send_some, check)

    def test_3a_real_rsu_seq_plus_1000(self):
        self.seq_jump(lambda seq: seq + 1000)

    def test_3b_real_rsu_seq_fffffffe(self):
        # With the RSU's newest seq in the tens here, 0xFFFFFFFE is some
        # tens *behind* it by serial-number arithmetic, below the oldest
        # held: by docs/protocol.md §3.4 alone that reads as a restart of
        # the RSU. Such a discontinuity, too, must not be believed from
        # one frame until the RSU confirms it; it is counted as old_seq
        # (docs/protocol.md §3.4: behind the oldest held, not a jump ahead).
        self.seq_jump(lambda seq: 0xFFFFFFFE, "old_seq")

    # -- 4: absurd durations ------------------------------------------------

    def test_4_invented_rsu_duration_0_then_2_pow_100(self):
        """Two heartbeats of an invented RSU, ``duration`` 0 then 2^100 ms
        at the next seq: refused as ``bad_duration`` or the learnt period
        clamped (``period_clamped``); no learnt period is unbounded, and
        the OBU's gateway stays the real RSU during and after."""
        invented = INVENTED["duration"]
        durations = (0, 2**100)

        def send_some(attacker, i):
            attacker.send(heartbeat(attacker.mac, invented, 7 + i, 2, durations[i]))
            return i + 1 < len(durations)

        def check(outcome):
            self.assertEqual(len(outcome.sent), 2)
            outcome.expect_reached("obu", 2)
            outcome.expect_grew(
                "obu",
                ("bad_duration", "period_clamped"),
                1,
                "duration 0 then 2^100",
            )
            periods = {
                source: state["period_s"]
                for source, state in self.obu.status()["sources"].items()
            }
            outcome.expect(
                all(p <= PERIOD_CLAMP_SANE_S for p in periods.values()),
                f"a learnt period is unbounded: {periods}",
            )

        self.attack(send_some, check, interval=PERIOD_MS / 1000)

    # -- 5: forged replies with hops = 0 ---------------------------------

    def test_5_forged_replies_for_the_obu_with_hops_0(self):
        """Replies to the RSU with ``sender`` = the OBU and ``hops = 0``, for
        the RSU's newest heartbeat, relayed by the attacker: refused as
        ``bad_hops``; the RSU's route to the OBU stays direct."""
        self.attacker.newest_rsu_heartbeat()

        def send_some(attacker, i):
            seq, duration = attacker.rsu_heartbeat
            attacker.send(
                reply(
                    self.rsu_mac,
                    attacker.mac,
                    self.rsu_mac,
                    seq,
                    0,
                    duration,
                    self.obu_mac,
                )
            )

        def check(outcome):
            distinct = len(set(outcome.sent))
            outcome.expect_reached("rsu", distinct)
            outcome.expect_grew("rsu", ("bad_hops",), distinct, "hops = 0")

        self.attack(send_some, check)


# docs/protocol.md §2.7: the signed heartbeat's body (159 bytes) and the
# signed reply's (132 bytes).
SIGNED_HEARTBEAT_BODY = struct.Struct("!16sII6sB32s32s64s")
SIGNED_REPLY_BODY = struct.Struct("!16sII6s6s32s64s")
HOPS_OFFSET = 36
SIGNATURE_OFFSET = 111  # in a signed heartbeat
REPLY_HOP_HASH_OFFSET = 52


def signed_heartbeat(
    src: bytes,
    source: bytes,
    seq: int,
    hops: int,
    duration_ms: int,
    chain_length: int,
    top_hash: bytes,
    hop_hash: bytes,
    signature: bytes,
) -> bytes:
    """A signed heartbeat (type 0, subtype 2), broadcast by ``src``."""
    return HEADER.pack(
        BROADCAST, src, ETHERTYPE_VANET, 0, 2
    ) + SIGNED_HEARTBEAT_BODY.pack(
        duration_ms.to_bytes(16, "big"),
        seq & U32_MAX,
        hops,
        source,
        chain_length,
        top_hash,
        hop_hash,
        signature,
    )


def signed_by(key: Identity, src: bytes, source: bytes, seq, hops, duration_ms):
    """A heartbeat of ``source`` that ``key`` really signs (an attacker's
    own key, in no trust file), with a hash chain that holds."""
    seed = os.urandom(32)
    values = [seed]
    for _ in range(32):
        values.append(chain_step(values[-1]))
    top = values[32]
    signature = key.sign(heartbeat_signed_bytes(source, seq, duration_ms, 32, top))
    return signed_heartbeat(
        src, source, seq, hops, duration_ms, 32, top, values[max(hops, 1)], signature
    )


def signed_reply(
    dst: bytes,
    src: bytes,
    source: bytes,
    seq: int,
    hops: int,
    duration_ms: int,
    sender: bytes,
    hop_hash: bytes,
    signature: bytes,
) -> bytes:
    """A signed heartbeat reply (type 0, subtype 3) from ``src`` to ``dst``."""
    return HEADER.pack(dst, src, ETHERTYPE_VANET, 0, 3) + SIGNED_REPLY_BODY.pack(
        duration_ms.to_bytes(16, "big"),
        seq & U32_MAX,
        hops,
        source,
        sender,
        hop_hash,
        signature,
    )


def with_fields(frame: bytes, **fields) -> bytes:
    """A received signed heartbeat with some body fields replaced."""
    body = SIGNED_HEARTBEAT_BODY.unpack(frame[16:175])
    names = (
        "duration",
        "seq",
        "hops",
        "source",
        "chain_length",
        "top_hash",
        "hop_hash",
        "signature",
    )
    values = dict(zip(names, body, strict=True))
    if "duration" in fields:
        fields["duration"] = fields["duration"].to_bytes(16, "big")
    values.update(fields)
    return frame[:16] + SIGNED_HEARTBEAT_BODY.pack(*(values[n] for n in names))


UNSIGNED_OR_REFUSED = (
    "unsigned",
    "unknown_key",
    "wrong_role",
    "bad_signature",
    "bad_chain",
    "replay",
)


class SignedAttackTests(AttackHarness):
    """Every row again with ``[security] authenticate = yes`` on both nodes
    (docs/protocol.md §2.7): the attacker sends the plain forms (refused as
    ``unsigned``) and the signed forms, signed with a key of its own (in no
    trust file: ``unknown_key``), carrying a real signature over other
    fields (``bad_signature``), a hop hash that does not fit
    (``bad_chain``), or captured from the segment and replayed
    (``replay``)."""

    authenticate = True

    def setUp(self) -> None:
        super().setUp()
        self.key = Identity.generate()  # the attacker's: in no trust file

    def newest_signed(self) -> bytes:
        """The RSU's newest signed heartbeat, as captured."""
        netns.wait_for(
            lambda: self.attacker.rsu_signed, 5, "a signed heartbeat from the RSU"
        )
        return self.attacker.rsu_signed[-1]

    def refused(self, node: str, reasons=UNSIGNED_OR_REFUSED):
        """A check: every distinct frame sent reached ``node`` and was
        refused there under one of ``reasons``."""

        def check(outcome):
            distinct = len(set(outcome.sent))
            outcome.expect_reached(node, distinct)
            outcome.expect_grew(node, reasons, distinct, "the forged frames")

        return check

    def test_0_control_a_copy_of_a_real_heartbeat_is_taken_as_a_copy(self):
        """The RSU's own signed heartbeats, passed on verbatim by the
        attacker: they verify, and the OBU takes each as a copy over
        another path (``heartbeat_copy_checked``), which shows the
        attacker's signed frames reach the OBU and are checked. A copy
        changes no upstream: it arrives later than the RSU's own."""
        self.newest_signed()

        def send_some(attacker, i):
            frame = attacker.rsu_signed[-1]
            attacker.send(frame[:6] + attacker.mac + frame[12:])

        def check(outcome):
            outcome.expect_grew("obu", ("heartbeat_copy_checked",), 3, "copies")

        self.attack(send_some, check, interval=PERIOD_MS / 1000)

    def test_1_invented_rsus(self):
        """Invented RSUs: plain (``hops`` 0 and 2), signed with the
        attacker's own key (``hops`` 1, and 0 with a valid chain), and with
        a group or zero ``source``: none is relayed, answered or held."""
        invented = INVENTED["hops0"]
        sources = (invented, BROADCAST, ZERO)

        def send_some(attacker, i):
            source = sources[i % 3]
            attacker.send(heartbeat(attacker.mac, source, i, i % 2 * 2, i * PERIOD_MS))
            attacker.send(
                signed_by(self.key, attacker.mac, source, i, 1, i * PERIOD_MS)
            )

        def check(outcome):
            self.refused("obu")(outcome)
            plain = [f for f in outcome.sent if f[15] == 0]
            signed = [f for f in outcome.sent if f[15] == 2]
            outcome.expect_grew("obu", ("unsigned",), len(set(plain)), "plain")
            outcome.expect_grew("obu", ("unknown_key",), len(set(signed)), "signed")
            for source in sources:
                relayed = self.forwarded_or_answered(source)
                outcome.expect(
                    not relayed,
                    f"the OBU relayed or answered {len(relayed)} heartbeats of "
                    f"{mac_text(source)}",
                )
                outcome.expect(
                    mac_text(source) not in outcome.after["obu"]["sources"],
                    f"the OBU holds {mac_text(source)} as a source",
                )

        self.attack(send_some, check)

    def test_2_the_real_rsus_next_heartbeat_sent_early(self):
        """The real RSU's ``source`` with the next ``seq`` and the predicted
        ``duration``, before the RSU sends it: plain, or with the newest
        heartbeat's chain and signature (they cover the old seq): refused;
        the OBU's newest seq of the RSU stays one the RSU sent."""
        self.newest_signed()

        def send_some(attacker, i):
            seq, duration = attacker.rsu_heartbeat
            frame = attacker.rsu_signed[-1]
            early = (seq + 1, duration + PERIOD_MS)
            attacker.send(
                heartbeat(attacker.mac, self.rsu_mac, *early[:1], 2, early[1])
            )
            forged = with_fields(frame, seq=early[0] & U32_MAX, duration=early[1])
            attacker.send(forged[:6] + attacker.mac + forged[12:])

        def check(outcome):
            self.refused("obu")(outcome)
            signed = {f for f in outcome.sent if f[15] == 2}
            outcome.expect_grew("obu", ("bad_signature",), len(signed), "signed")
            self.expect_newest_seq_real(outcome)

        self.attack(send_some, check)

    def expect_newest_seq_real(self, outcome) -> None:
        source = self.obu.status()["sources"].get(mac_text(self.rsu_mac))
        next_seq = self.rsu.status()["next_seq"]
        newest = None if source is None else source["newest_seq"]
        outcome.expect(
            newest is not None and (next_seq - 1 - newest) & U32_MAX < 5,
            f"the OBU's newest seq of the real RSU is {newest}, and the "
            f"RSU has sent up to {next_seq - 1}",
        )

    def test_3_seq_jumps_and_absurd_durations(self):
        """The real RSU's newest signed heartbeat with ``seq`` + 1000,
        ``0xFFFFFFFE``, or ``duration`` 0 and 2^100, plain and with its
        signature: refused (``bad_signature``, or ``replay`` for a seq far
        behind the newest); an invented RSU signing ``duration`` 0 then
        2^100 itself: ``unknown_key``."""
        self.newest_signed()
        invented = INVENTED["duration"]

        def send_some(attacker, i):
            seq, duration = attacker.rsu_heartbeat
            frame = attacker.rsu_signed[-1]
            forged = [
                with_fields(frame, seq=(seq + 1000) & U32_MAX),
                with_fields(frame, seq=0xFFFFFFFE),
                with_fields(frame, duration=0),
                with_fields(frame, duration=2**100),
                heartbeat(attacker.mac, self.rsu_mac, seq + 1000, 2, duration),
                signed_by(
                    self.key, attacker.mac, invented, 7 + i, 1, (0, 2**100)[i % 2]
                ),
            ]
            for f in forged:
                attacker.send(f[:6] + attacker.mac + f[12:])
            return i < 3

        def check(outcome):
            self.refused("obu")(outcome)
            self.expect_newest_seq_real(outcome)
            periods = {
                source: state["period_s"]
                for source, state in self.obu.status()["sources"].items()
            }
            outcome.expect(
                list(periods) == [mac_text(self.rsu_mac)],
                f"the OBU holds other sources: {periods}",
            )

        self.attack(send_some, check, interval=PERIOD_MS / 1000)

    def test_4_forged_replies_for_the_obu(self):
        """Replies to the RSU for the OBU, relayed by the attacker: plain
        (``hops`` 0 and 2), and signed forms for the RSU's newest
        heartbeat with a made-up signature, with the captured hop hash of
        the RSU's own heartbeat, or with a hop count the hop hash does not
        prove: refused; the RSU's route to the OBU stays direct."""
        self.newest_signed()

        def send_some(attacker, i):
            seq, duration = attacker.rsu_heartbeat
            frame = attacker.rsu_signed[-1]
            hop_hash = frame[79:111]
            for hops in (0, 2):
                attacker.send(
                    reply(
                        self.rsu_mac,
                        attacker.mac,
                        self.rsu_mac,
                        seq,
                        hops,
                        duration,
                        self.obu_mac,
                    )
                )
            for hops, h, signature in (
                (1, hop_hash, os.urandom(64)),  # the real hop hash, no signature
                (2, hop_hash, os.urandom(64)),  # fewer hops than proven
                (2, chain_step(hop_hash), os.urandom(64)),
            ):
                attacker.send(
                    signed_reply(
                        self.rsu_mac,
                        attacker.mac,
                        self.rsu_mac,
                        seq,
                        hops,
                        duration,
                        self.obu_mac,
                        h,
                        signature,
                    )
                )

        self.attack(send_some, self.refused("rsu"))

    def test_5_replays_of_captured_signed_frames(self):
        """Captured signed frames sent again: the RSU's heartbeats from
        more than ``hello_history`` periods before (two in a row would look
        like an RSU restart, docs/protocol.md §3.4), and the OBU's signed
        replies to the RSU, relayed by the attacker: refused as ``replay``;
        the victim's newest seq of the RSU stays the real one."""
        # The segment is a radio medium: the attacker hears unicast frames
        # too (a bridge that learns no addresses floods every frame).
        seg = self.segment
        subprocess.run(
            ["ip", "-n", seg.bridge_namespace, "link", "set", seg.bridge]
            + ["type", "bridge", "ageing_time", "0"],
            check=True,
        )
        netns.wait_for(
            lambda: any(
                f[15] == 3 and f[6:12] == self.obu_mac
                for f in self.attacker.frames_heard()
            ),
            5,
            "a signed reply of the OBU, captured",
        )
        old = netns.wait_for(
            lambda: (
                self.attacker.rsu_signed[:2]
                if len(self.attacker.rsu_signed) >= 14
                else None
            ),
            10,
            "14 signed heartbeats from the RSU",
        )
        replies = [
            f
            for f in self.attacker.frames_heard()
            if f[15] == 3 and f[6:12] == self.obu_mac and f[:6] == self.rsu_mac
        ]
        self.assertTrue(replies, "no signed reply of the OBU was captured")

        def send_some(attacker, i):
            for f in old:
                attacker.send(f[:6] + attacker.mac + f[12:])
            r = replies[i % len(replies)]
            attacker.send(r[:6] + attacker.mac + r[12:])

        def check(outcome):
            heartbeats = {f for f in outcome.sent if f[15] == 2}
            replayed = {f for f in outcome.sent if f[15] == 3}
            outcome.expect_grew("obu", ("replay",), len(heartbeats), "old heartbeats")
            outcome.expect_grew("rsu", ("replay",), len(replayed), "replies")
            self.expect_newest_seq_real(outcome)

        self.attack(send_some, check)


@attrs.define
class Outcome:
    """What an attack left: counts before and after, the frames sent, and
    the expectations not met so far."""

    before: dict
    after: dict
    sent: list[bytes]
    problems: list[str] = attrs.Factory(list)

    def expect(self, ok, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def expect_grew(
        self, node: str, reasons: tuple[str, ...], at_least: int, what: str
    ) -> None:
        """``node``'s drops (or counters) under ``reasons`` grew, together,
        by at least ``at_least``."""

        def total(counts):
            kinds = counts[node]
            return sum(
                kinds["drops"].get(r, 0) + kinds["counters"].get(r, 0) for r in reasons
            )

        grown = total(self.after) - total(self.before)
        self.expect(
            grown >= at_least,
            f"{node} counted {grown} under {' + '.join(reasons)} for {what}, "
            f"want at least {at_least}",
        )

    def expect_reached(self, node: str, frames: int) -> None:
        """The attacker's frames reached ``node`` (a check of the harness)."""

        def frames_in(counts):
            return counts[node]["counters"].get("frames_in", 0)

        grown = frames_in(self.after) - frames_in(self.before)
        self.expect(
            grown >= frames,
            f"{node} received {grown} frames, fewer than the attacker's {frames}",
        )


def _ping_received(output: str) -> int:
    for line in output.splitlines():
        if "received" in line:
            return int(line.split(",")[1].split()[0])
    raise AssertionError(f"no ping summary:\n{output}")


def _reap(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(10)

"""A raw-socket RSU written here from docs/protocol.md alone (struct and an
AF_PACKET socket; nothing from ``vanet``) against a real ``twistd -n
vanet-obu`` process in another namespace (issue 4, Done means 3).

The peer floods heartbeats and checks, byte by byte, the OBU's rebroadcast
and reply (docs/protocol.md §2, §3); then it receives the OBU's TAP traffic as upstream
messages (§7), answers the OBU host's ARP and ping through downstream
messages, and so checks the tunnel in both directions.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from tests.test_twistd_netns import MARKER, PERIOD_MS, start_node

ETHERTYPE_VANET = 0x3030
BROADCAST = b"\xff" * 6
OBU_TAP = "10.48.0.11/24"
PEER_HOST_IP = socket.inet_aton("10.48.0.1")  # a host "behind" the peer RSU
PEER_HOST_MAC = bytes.fromhex("0a0000000001")

# docs/protocol.md §2: dst, src, marker 0x3030, type, subtype.
HEADER = struct.Struct("!6s6sHBB")
# heartbeat body: duration (16 B), seq u32, hops u32, source MAC.
HEARTBEAT_BODY = struct.Struct("!16sII6s")


def heartbeat(src: bytes, duration_ms: int, seq: int, hops: int) -> bytes:
    return HEADER.pack(BROADCAST, src, ETHERTYPE_VANET, 0, 0) + HEARTBEAT_BODY.pack(
        duration_ms.to_bytes(16, "big"), seq, hops, src
    )


def downstream(dst: bytes, src: bytes, origin: bytes, destination: bytes, payload):
    return HEADER.pack(dst, src, ETHERTYPE_VANET, 1, 1) + origin + destination + payload


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def arp_reply_to(request: bytes) -> bytes | None:
    """The peer host's answer to an ARP request for its address."""
    if request[12:14] != b"\x08\x06" or request[20:22] != b"\x00\x01":
        return None
    asker_mac, asker_ip, target_ip = request[22:28], request[28:32], request[38:42]
    if target_ip != PEER_HOST_IP:
        return None
    arp = struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        0x0800,
        6,
        4,
        2,
        PEER_HOST_MAC,
        PEER_HOST_IP,
        asker_mac,
        asker_ip,
    )
    return asker_mac + PEER_HOST_MAC + b"\x08\x06" + arp


def echo_reply_to(frame: bytes) -> bytes | None:
    """The peer host's answer to an ICMP echo request (no IP options)."""
    if frame[12:14] != b"\x08\x00" or frame[14] != 0x45 or frame[23] != 1:
        return None
    ip = bytearray(frame[14:34])
    icmp = bytearray(frame[34 : 14 + struct.unpack("!H", ip[2:4])[0]])
    if icmp[0] != 8 or ip[16:20] != PEER_HOST_IP:
        return None
    ip[12:16], ip[16:20] = ip[16:20], ip[12:16]
    ip[10:12] = b"\0\0"
    ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
    icmp[0] = 0
    icmp[2:4] = b"\0\0"
    icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
    return frame[6:12] + PEER_HOST_MAC + b"\x08\x00" + bytes(ip) + bytes(icmp)


class RawRsuPeerTests(SynchronousTestCase):
    def setUp(self) -> None:
        netns.skip_unless_root_netns()
        netns.skip_unless_tun()
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.segment = netns.use(self, netns.segment(("obu", "peer")))
        ns = self.segment.namespaces
        self.obu = start_node(
            self,
            self.workdir,
            ns["obu"],
            self.segment.interfaces["obu"],
            "obu",
            "obu",
            "packet",
            OBU_TAP,
        )
        self.obu_mac = bytes.fromhex(
            netns.link_info(self.segment.interfaces["obu"], ns["obu"]).mac.replace(
                ":", ""
            )
        )
        self.tap_mac = bytes.fromhex(
            netns.link_info("vtap0", ns["obu"]).mac.replace(":", "")
        )
        sock = netns.ns_socket(
            ns["peer"], socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE_VANET)
        )
        self.addCleanup(sock.close)
        sock.bind((self.segment.interfaces["peer"], ETHERTYPE_VANET))
        sock.settimeout(0.02)
        self.sock = sock
        self.mac = sock.getsockname()[4]
        self.seq = 0
        self.started = time.monotonic()

    def send_heartbeat(self) -> bytes:
        duration = int((time.monotonic() - self.started) * 1000)
        frame = heartbeat(self.mac, duration, self.seq, 1)
        self.sock.send(frame)
        self.seq += 1
        return frame

    def receive(self, seconds: float, handle, done=lambda: False) -> None:
        """Read frames for ``seconds`` (or until ``done()``), sending a
        heartbeat every period; ``handle(frame)`` true also stops."""
        deadline = time.monotonic() + seconds
        next_heartbeat = time.monotonic()
        while time.monotonic() < deadline and not done():
            if time.monotonic() >= next_heartbeat:
                self.send_heartbeat()
                next_heartbeat += PERIOD_MS / 1000
            try:
                frame = self.sock.recv(4096)
            except TimeoutError:
                continue
            if frame[6:12] == self.mac:
                continue  # our own transmission
            if handle(frame):
                return

    def test_rebroadcast_and_reply_byte_by_byte(self):
        sent = self.send_heartbeat()
        body = sent[16:46]  # duration, seq, hops, source
        want_rebroadcast = (
            BROADCAST
            + self.obu_mac
            + b"\x30\x30\x00\x00"
            + body[:20]
            + struct.pack("!I", 2)  # hops + 1
            + self.mac
        )
        want_reply = self.mac + self.obu_mac + b"\x30\x30\x00\x01" + body + self.obu_mac
        got: dict[str, bytes] = {}
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            try:
                frame = self.sock.recv(4096)
            except TimeoutError:
                continue
            if frame[6:12] == self.obu_mac and frame[12:15] == b"\x30\x30\x00":
                got["reply" if frame[15] == 1 else "rebroadcast"] = frame
        self.assertEqual(set(got), {"rebroadcast", "reply"}, "OBU did not answer")
        # One message per frame (§10): nothing after the fixed-size control
        # message but Ethernet padding, if any.
        self.assertEqual(got["rebroadcast"][:46], want_rebroadcast)
        self.assertEqual(got["rebroadcast"][46:].strip(b"\0"), b"")
        self.assertEqual(got["reply"][:52], want_reply)
        self.assertEqual(got["reply"][52:].strip(b"\0"), b"")

    def test_tap_traffic_arrives_as_upstream_and_downstream_answers_it(self):
        self.receive(3 * PERIOD_MS / 1000, lambda frame: False)  # be its upstream
        ping = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.segment.namespaces["obu"],
                "ping",
                "-c",
                "10",
                "-i",
                "0.2",
                "-W",
                "2",
                "-p",
                MARKER.hex(),
                "10.48.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.addCleanup(lambda: ping.poll() is None and ping.kill())
        upstream: list[bytes] = []

        def handle(frame: bytes) -> bool:
            if frame[12:16] != b"\x30\x30\x01\x00":
                return False
            upstream.append(frame)
            # §2/§7: dst = us (its upstream), src = origin = the OBU.
            self.assertEqual(frame[0:6], self.mac)
            self.assertEqual(frame[6:12], self.obu_mac)
            self.assertEqual(frame[16:22], self.obu_mac)
            inner = frame[22:]
            self.assertEqual(inner[6:12], self.tap_mac, "inner frame from the TAP")
            answer = arp_reply_to(inner) or echo_reply_to(inner)
            if answer is not None:
                self.sock.send(
                    downstream(self.obu_mac, self.mac, self.mac, self.obu_mac, answer)
                )
            return False

        self.receive(15, handle, done=lambda: ping.poll() is not None)
        output = ping.communicate(timeout=10)[0]
        arp = [f for f in upstream if f[34:36] == b"\x08\x06"]
        echo = [f for f in upstream if f[34:36] == b"\x08\x00" and MARKER in f]
        self.assertTrue(arp, "the OBU host's ARP request came up the tunnel")
        self.assertEqual(arp[0][22:28], BROADCAST)
        self.assertEqual(arp[0][22 + 38 : 22 + 42], PEER_HOST_IP)
        self.assertGreaterEqual(len(echo), 9, "echo requests with the marker")
        self.assertEqual(echo[0][22:28], PEER_HOST_MAC)
        summary = [line for line in output.splitlines() if " received" in line]
        self.assertTrue(summary, output)
        received = int(summary[0].split(",")[1].split()[0])
        self.assertGreaterEqual(received, 9, f"ping through the tunnel:\n{output}")

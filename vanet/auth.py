"""The authentication gate: signed heartbeats and replies in, signed ones
out (docs/protocol.md §2.7). Sans-I/O: no Twisted, no clock.

With ``[security] authenticate = yes`` the engine hands every control
message to ``AuthGate.admit`` before the routing core sees it, and writes
the frames the core asks for through ``AuthGate``'s signing methods
(``vanet.node.engine.frame_writers``). The cores themselves do not change:

- A signed message that verifies goes on as the same view over the same
  buffer, relabelled (``VerifiedHeartbeat``, ``VerifiedReply``: subclasses
  of the signed views whose ``kind`` is the plain message's), so a core
  that dispatches on ``kind`` and reads ``source``, ``seq``, ``duration_ms``,
  ``hops`` and ``sender`` handles it as it handles a plain one.
- Everything else is dropped here and counted in ``drops`` by reason:
  ``unsigned`` (a plain heartbeat or reply), ``unknown_key``,
  ``wrong_role``, ``bad_signature``, ``bad_chain`` (the hop count does not
  lie on the heartbeat's hash chain), ``replay`` (a reply already accepted,
  or a heartbeat older than the history: an RSU that authenticates never
  goes back in seq), ``unknown_heartbeat`` (a reply to a heartbeat this node
  did not verify or send).

What is checked, in order, is docs/protocol.md §2.7's list; the cheap
checks come first, so a forged frame costs a dictionary lookup, a copy of
a heartbeat already verified costs its hash-chain check only, and only a
new (source, seq, duration, chain top) or a new reply costs a signature
check.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict

from vanet.identity import (
    DEFAULT_CHAIN_LENGTH,
    HopChain,
    Identity,
    ReplayWindows,
    TrustStore,
    heartbeat_signed_bytes,
    reply_signed_bytes,
)
from vanet.wire import (
    U32_MAX,
    SignedHeartbeatReplyView,
    SignedHeartbeatView,
    serial_diff,
)


class VerifiedHeartbeat(SignedHeartbeatView):
    """A signed heartbeat the gate verified: a heartbeat to the cores."""

    __slots__ = ()
    kind = "heartbeat"


class VerifiedReply(SignedHeartbeatReplyView):
    """A signed reply the gate verified: a heartbeat reply to the cores."""

    __slots__ = ()
    kind = "heartbeat_reply"


# How many chain values past the first copy's are remembered: copies come
# from neighbours at the same distance or one or two hops farther out, so
# these make nearly every copy a dictionary lookup.
_CHAIN_AHEAD = 4
# Sources (RSUs) whose verified heartbeats a node keeps; the least recently
# heard is forgotten first. Only RSUs in the trust file get here.
MAX_SOURCES = 256


def first_seq(now: float, period_s: float) -> int:
    """The seq an authenticating RSU starts at: its clock in periods.

    A signed heartbeat can be replayed, so a receiver refuses one older
    than what it holds (``replay``), and an RSU that restarted at seq 0
    would be refused as its own old frames. Numbered by the clock instead,
    a restarted RSU starts at or after the last seq it sent (it sent at
    most one per period, never ahead of the clock), so it is followed as
    docs/protocol.md §3.4 says for a seq that moved."""
    return int(now / period_s) & U32_MAX


class _Verified:
    """One heartbeat whose signature verified: its signed fields and the
    chain values known to lie on its chain (value -> hops)."""

    __slots__ = ("duration_ms", "chain_length", "top_hash", "signature", "at_hops")

    def __init__(self, duration_ms, chain_length, top_hash, signature) -> None:
        self.duration_ms = duration_ms
        self.chain_length = chain_length
        self.top_hash = top_hash
        self.signature = signature
        self.at_hops: dict[bytes, int] = {top_hash: chain_length}

    def matches(self, hb) -> bool:
        return (
            self.duration_ms == hb.duration_ms
            and self.chain_length == hb.chain_length
            and self.top_hash == hb.top_hash
            and self.signature == hb.signature
        )

    def on_chain(self, hop_hash: bytes, hops: int) -> bool:
        """Whether ``hop_hash`` is this chain's value at ``hops``: it must
        step to the top in exactly ``chain_length - hops`` hashes (or reach
        a value already known at the right distance sooner)."""
        n = self.chain_length
        if not 1 <= hops <= n:
            return False
        known = self.at_hops
        at = known.get(hop_hash)
        if at is not None:
            return at == hops
        value, found = hop_hash, None
        steps = []
        for h in range(hops + 1, n + 1):
            value = hashlib.sha256(value).digest()
            at = known.get(value)
            if at is not None:
                found = at == h
                break
            if h - hops <= _CHAIN_AHEAD:
                steps.append((value, h))
        if not found:
            return False
        known[hop_hash] = hops
        for value, h in steps:
            known[value] = h
        return True

    def value_at(self, hops: int) -> bytes | None:
        for value, h in self.at_hops.items():
            if h == hops:
                return value
        return None


class _SourceState:
    """What a node holds about one RSU: the newest seq verified, and the
    heartbeats verified (by seq) within ``keep`` of it."""

    __slots__ = ("newest", "heartbeats")

    def __init__(self) -> None:
        self.newest: int | None = None
        self.heartbeats: dict[int, _Verified] = {}


class _Sent:
    """One heartbeat this RSU signed: its chain (seed kept) and signature."""

    __slots__ = ("duration_ms", "chain", "signature", "hops_by_value")

    def __init__(self, duration_ms: int, chain: HopChain, signature: bytes) -> None:
        self.duration_ms = duration_ms
        self.chain = chain
        self.signature = signature
        self.hops_by_value = {chain.at(h): h for h in range(1, chain.length + 1)}


class AuthGate:
    """Verifies what a node receives and signs what it sends.

    - ``mac``, ``role``: the node's.
    - ``identity``: its key pair; ``trust``: the trust store (the same
      object a SIGHUP reload fills in place).
    - ``history``: the node's ``hello_history``. A heartbeat ``history``
      or more seqs behind the newest one verified from its RSU is a
      replay: the routing core would take two such for a restart of the
      RSU (docs/protocol.md §3.4).
    - ``chain_length``: the hash chain an RSU signs per heartbeat; its
      heartbeats go at most this many hops.
    """

    def __init__(
        self,
        mac: bytes,
        role: str,
        identity: Identity,
        trust: TrustStore,
        *,
        history: int = 10,
        chain_length: int = DEFAULT_CHAIN_LENGTH,
    ) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        self.mac = bytes(mac)
        self.role = role
        self.identity = identity
        self.trust = trust
        self.history = history
        self.chain_length = chain_length
        self.drops: Counter = Counter()
        self.counters: Counter = Counter()
        self._entries = trust.entries
        self._sources: OrderedDict[bytes, _SourceState] = OrderedDict()
        self._sent: OrderedDict[int, _Sent] = OrderedDict()  # RSU: by seq
        self._replies = ReplayWindows()  # (source, sender) -> window of seqs
        self._admit = {
            "signed_heartbeat": self._heartbeat,
            "signed_heartbeat_reply": self._reply,
            "heartbeat": self._unsigned,
            "heartbeat_reply": self._unsigned,
        }

    # -- receiving -----------------------------------------------------------

    def admit(self, msg):
        """The message as the routing core may see it, or ``None`` (dropped
        and counted). Data messages pass untouched: they are not signed
        here (docs/protocol.md §8 protects their payloads)."""
        check = self._admit.get(msg.kind)
        if check is None:
            return msg
        if self.trust.entries is not self._entries:
            # The trust file was re-read: what was verified under the old
            # keys is verified again under the new ones. The newest seq of
            # each RSU stays: forgetting it would let old frames replay.
            self._entries = self.trust.entries
            for state in self._sources.values():
                state.heartbeats.clear()
        return check(msg)

    def _drop(self, reason: str) -> None:
        self.drops[reason] += 1

    def _unsigned(self, msg):
        self.drops["unsigned"] += 1
        return None

    def _heartbeat(self, hb):
        if self.role == "rsu":
            # An RSU relays no heartbeat and learns nothing from one.
            self.counters["heartbeat_ignored"] += 1
            return None
        source, seq, hops = hb.source, hb.seq, hb.hops
        n = hb.chain_length
        if not 1 <= hops <= n:
            return self._drop("bad_chain")
        state = self._sources.get(source)
        if state is not None and state.newest is not None:
            if serial_diff(state.newest, seq) >= self.history:
                return self._drop("replay")
            verified = state.heartbeats.get(seq)
            if verified is not None and verified.matches(hb):
                # A copy over another path: the chain is all that is new.
                if not verified.on_chain(hb.hop_hash, hops):
                    return self._drop("bad_chain")
                self.counters["heartbeat_copy_checked"] += 1
                self._sources.move_to_end(source)
                hb.__class__ = VerifiedHeartbeat
                return hb
        entry = self.trust.get(source)
        if entry is None:
            return self._drop("unknown_key")
        if entry.role != "rsu":
            return self._drop("wrong_role")
        verified = _Verified(hb.duration_ms, n, hb.top_hash, hb.signature)
        if not verified.on_chain(hb.hop_hash, hops):
            return self._drop("bad_chain")
        reason = self.trust.check(
            source,
            "rsu",
            heartbeat_signed_bytes(source, seq, hb.duration_ms, n, hb.top_hash),
            hb.signature,
        )
        if reason is not None:
            return self._drop(reason)
        self.counters["heartbeat_verified"] += 1
        self._remember(source, state, seq, verified)
        hb.__class__ = VerifiedHeartbeat
        return hb

    def _remember(self, source, state, seq: int, verified: _Verified) -> None:
        if state is None:
            state = self._sources[source] = _SourceState()
            if len(self._sources) > MAX_SOURCES:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(source)
        heartbeats = state.heartbeats
        heartbeats.pop(seq, None)  # re-inserted last: the dict runs by age
        heartbeats[seq] = verified
        if state.newest is None or serial_diff(seq, state.newest) > 0:
            state.newest = seq
            # Keep what a reply may still answer, and no more: twice the
            # history covers the core's window for a seq that moved. The
            # oldest come first, so pruning stops at the first one kept.
            keep = 2 * self.history
            while serial_diff(seq, next(iter(heartbeats))) >= keep:
                del heartbeats[next(iter(heartbeats))]

    def _reply(self, reply):
        sender, source, seq = reply.sender, reply.source, reply.seq
        entry = self.trust.get(sender)
        if entry is None:
            return self._drop("unknown_key")
        if entry.role != "obu":
            return self._drop("wrong_role")
        hops, hop_hash = reply.hops, reply.hop_hash
        if self.role == "rsu":
            # The RSU holds the seed: the hop hash tells exactly how far
            # the sender heard the heartbeat, whatever the hops field says.
            sent = self._sent.get(seq) if source == self.mac else None
            if sent is None or sent.duration_ms != reply.duration_ms:
                return self._drop("unknown_heartbeat")
            if sent.hops_by_value.get(hop_hash) != hops:
                return self._drop("bad_chain")
        else:
            state = self._sources.get(source)
            verified = None if state is None else state.heartbeats.get(seq)
            if verified is None or verified.duration_ms != reply.duration_ms:
                return self._drop("unknown_heartbeat")
            if not verified.on_chain(hop_hash, hops):
                return self._drop("bad_chain")
        key = (source, sender)
        windows = self._replies
        if not windows.would_accept(key, seq):
            return self._drop("replay")
        reason = self.trust.check(
            sender,
            "obu",
            reply_signed_bytes(source, seq, reply.duration_ms, sender, hop_hash),
            reply.signature,
        )
        if reason is not None:
            return self._drop(reason)
        windows.accept(key, seq)
        self.counters["reply_verified"] += 1
        reply.__class__ = VerifiedReply
        return reply

    # -- sending -------------------------------------------------------------

    def heartbeat_fields(
        self, source: bytes, seq: int, duration_ms: int, hops: int
    ) -> tuple[int, bytes, bytes, bytes] | None:
        """``(chain_length, top_hash, hop_hash, signature)`` for a heartbeat
        the core asks to send (``SendHeartbeat``), or ``None`` when this
        node cannot sign it (it is counted).

        The RSU's own (``source`` = this node): signed once per seq, over a
        fresh chain. An OBU passing on a heartbeat the core held aside
        (docs/protocol.md §3.4): the RSU's signature and chain as verified,
        one step further."""
        if source == self.mac:
            return self._own(seq, duration_ms, hops)
        state = self._sources.get(source)
        verified = None if state is None else state.heartbeats.get(seq)
        value = None
        if verified is not None and verified.duration_ms == duration_ms:
            value = verified.value_at(hops - 1)
        if value is None or hops > verified.chain_length:
            self.counters["heartbeat_not_relayed_unsignable"] += 1
            return None
        return (
            verified.chain_length,
            verified.top_hash,
            hashlib.sha256(value).digest(),
            verified.signature,
        )

    def _own(self, seq: int, duration_ms: int, hops: int):
        sent = self._sent.get(seq)
        if sent is None or sent.duration_ms != duration_ms:
            chain = HopChain.fresh(self.chain_length)
            signature = self.identity.sign(
                heartbeat_signed_bytes(
                    self.mac, seq, duration_ms, chain.length, chain.top
                )
            )
            sent = self._sent[seq] = _Sent(duration_ms, chain, signature)
            self._sent.move_to_end(seq)
            while len(self._sent) > 2 * self.history:
                self._sent.popitem(last=False)
            self.counters["heartbeat_signed"] += 1
        chain = sent.chain
        return chain.length, chain.top, chain.at(hops), sent.signature

    def relay_hash(self, hb, hops: int) -> bytes | None:
        """The hop hash to rebroadcast ``hb`` with at ``hops`` (its own + 1),
        or ``None`` past the end of its chain (not relayed, counted: the
        next node could not check it)."""
        if hops > hb.chain_length:
            self.counters["heartbeat_not_relayed_chain"] += 1
            return None
        value = hb.hop_hash
        for _ in range(hops - hb.hops):
            value = hashlib.sha256(value).digest()
        return value

    def reply_signature(self, hb) -> bytes:
        """This node's signature of its reply to the verified ``hb``."""
        self.counters["reply_signed"] += 1
        return self.identity.sign(
            reply_signed_bytes(hb.source, hb.seq, hb.duration_ms, self.mac, hb.hop_hash)
        )

    def memory(self) -> dict[str, int]:
        """Sizes of the bounded tables (for tests and status)."""
        return {
            "sources": len(self._sources),
            "heartbeats_per_source": max(
                (len(s.heartbeats) for s in self._sources.values()), default=0
            ),
            "signed_heartbeats": len(self._sent),
        }

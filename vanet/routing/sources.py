"""What an OBU holds about each RSU it hears (docs/protocol.md §3-§5).

``Source`` is the one object per RSU: the heartbeats held and their
arrivals (the history the upstream candidates are summarized from), what
each neighbour last delivered (liveness), and the record of the last
upstream selection for it. ``Heard`` is one heartbeat as heard.
"""

from __future__ import annotations

from vanet.routing.candidates import Candidate
from vanet.routing.routes import ReplyLog
from vanet.routing.summary import Summary
from vanet.wire import U32_MAX

#: Where the unwrapped seqs of a fresh ``Source`` start: the first seq
#: heard plus 2^32, so a held seq is never negative.
FIRST_OFFSET = 1 << 32


class Heard:
    """One heartbeat ``(source, seq)`` as this OBU heard it."""

    __slots__ = (
        "duration_ms",
        "at",
        "first_from",
        "hops",
        "arrivals",
        "replies",
    )

    def __init__(self, duration_ms: int, at: float, first_from: bytes, hops: int):
        self.duration_ms = duration_ms
        self.at = at  # when it was first heard (our clock, seconds)
        self.first_from = first_from  # P: our way toward the source
        self.hops = hops  # as carried on the wire: our distance to the source
        # neighbour -> (hops, arrival time): every path it came over
        self.arrivals: dict[bytes, tuple[int, float]] = {}
        self.replies = ReplyLog()

    def arrive(self, neighbour: bytes, hops: int, at: float) -> None:
        self.arrivals[neighbour] = (hops, at)


#: Arrival offsets are kept in multiples of 1/1024 ms (about 1 us): sums of
#: such numbers are exact in a float, so a heartbeat leaving the history is
#: subtracted out of a running sum with the same result as summing again.
QUANTUM = 1024


class Source:
    """What this OBU holds about one RSU.

    The history: ``seqs`` (held heartbeats), what each neighbour last
    delivered, the period learnt from ``duration``, and the running
    summaries of the arrivals. The selection record, as of the last time
    the core re-ranked this RSU (``None`` until it has): ``live`` (the
    live neighbours), ``logs`` (the reply logs routes read), ``expiry``
    (when liveness may next change), ``ranked`` (the feasible upstream
    candidates, best first; ``None`` without any), ``fewest_hops`` (over
    every live one), ``feasible`` and ``lapse`` (docs/protocol.md §4.8).
    A restarted RSU
    gets a fresh history but keeps the record until it is re-ranked
    (``carry_record``)."""

    __slots__ = (
        "seqs",
        "last_seq_from",
        "last_at_from",
        "period",
        "last_at",
        "agg",
        "ordered",
        "ref",
        "live",
        "logs",
        "expiry",
        "ranked",
        "fewest_hops",
        "feasible",
        "lapse",
        "pending",
    )

    def __init__(self) -> None:
        self.seqs: dict[int, Heard] = {}
        self.last_seq_from: dict[bytes, int] = {}  # newest seq each neighbour gave
        self.last_at_from: dict[bytes, float] = {}  # and when
        self.period: float | None = None  # learnt from ``duration`` (s)
        self.last_at = 0.0
        # Per neighbour the ``Summary`` of its arrivals' offsets
        # over the held heartbeats, oldest first: what the upstream
        # candidates are summarized from. ``None`` when it must be re-read
        # (an arrival came for an older heartbeat than the newest).
        self.agg: dict[bytes, Summary] | None = None
        self.ordered: list[tuple[int, Heard]] | None = None  # seqs, sorted
        # The first raw offset seen: offsets are kept relative to it, so
        # they stay small (exact sums) whatever the two clocks read.
        self.ref: float | None = None
        self.live: frozenset[bytes] | None = None
        self.logs: list[ReplyLog] | None = None
        self.expiry: float | None = None
        self.ranked: list[Candidate] | None = None
        self.fewest_hops: int | None = None
        # The live next hops that were feasible (docs/protocol.md §4.8),
        # and the earliest time one of them may stop being so.
        self.feasible: frozenset[bytes] = frozenset()
        self.lapse = float("inf")
        # A heartbeat that did not fit the history (a seq jump, a restart
        # or a forgery), as (seq on the wire, duration, hops): believed
        # only when a later heartbeat agrees with it (docs/protocol.md §3.4).
        self.pending: tuple[int, int, int] | None = None

    def newest(self) -> int:
        """The newest held seq (unwrapped: see ``unwrap``); needs a held one."""
        return self.sorted_seqs()[-1][0]

    def unwrap(self, seq: int) -> int:
        """``seq`` from the wire as an unwrapped integer: seqs held are
        ordered by serial-number arithmetic (they wrap at 2^32), so they
        are kept as ``newest + serial_diff(seq, newest)``, which plain
        integer comparisons order right. The first one is ``seq + 2^32``
        (never negative for any held seq). ``& U32_MAX`` gives the wire
        seq back."""
        ordered = self.ordered
        if not ordered:
            if not self.seqs:
                return seq + FIRST_OFFSET
            ordered = self.sorted_seqs()
        newest = ordered[-1][0]
        # serial_diff(seq, newest & U32_MAX), inline: every frame asks.
        d = (seq - newest) & U32_MAX
        return newest + (d - 0x100000000 if d >= 0x80000000 else d)

    def advertised_since(self, neighbour: bytes, bound: float, since: float):
        """When ``neighbour`` advertised, at or after ``since``, a distance
        below ``bound`` toward this RSU (docs/protocol.md §4.8), or
        ``None``. Its distance is the hop count it delivered less one: the
        hop count it heard the heartbeat at itself. The time is that of the
        newest such heartbeat (a copy of an older one may have come later:
        an earlier time only makes the core look again sooner)."""
        for _, heard in reversed(self.sorted_seqs()):
            arrival = heard.arrivals.get(neighbour)
            if arrival is not None:
                hops, at = arrival
                if hops - 1 < bound and at >= since:
                    return at
        return None

    def carry_record(self, old: Source) -> None:
        """Take over ``old``'s selection record (this replaces it)."""
        self.live = old.live
        self.logs = old.logs
        self.expiry = old.expiry
        self.ranked = old.ranked
        self.fewest_hops = old.fewest_hops
        self.feasible = old.feasible
        self.lapse = old.lapse

    def offset(self, at: float, duration_ms: int) -> float:
        """An arrival's offset: its time (ms, our clock) less the RSU's
        ``duration`` and ``ref``, in multiples of 1/QUANTUM ms."""
        raw = at * 1000 - duration_ms
        ref = self.ref
        if ref is None:
            ref = self.ref = raw
        return round((raw - ref) * QUANTUM) / QUANTUM

    def add_seq(self, seq: int, heard: Heard, history: int) -> None:
        """Hold a newly heard heartbeat (before its first arrival is
        noted), dropping the oldest past ``history``."""
        seqs = self.seqs
        if seqs and seq < self.sorted_seqs()[-1][0]:
            self.agg = None  # not the newest: its arrivals go in the middle
        seqs[seq] = heard
        self.ordered = None
        while len(seqs) > history:
            oldest = min(seqs)
            self._forget(seqs.pop(oldest))

    def _forget(self, heard: Heard) -> None:
        # Take the oldest heartbeat's arrivals out of the running sums.
        agg = self.agg
        if agg is None:
            return
        duration_ms = heard.duration_ms
        for n, (_, at) in heard.arrivals.items():
            a = agg[n]
            if a.count == 1:
                del agg[n]
                continue
            if a.remove(self.offset(at, duration_ms)):
                # It may have been the only fastest: the minimum of the rest.
                a.low = min(
                    self.offset(h.arrivals[n][1], h.duration_ms)
                    for h in self.seqs.values()
                    if n in h.arrivals
                )

    def sorted_seqs(self) -> list[tuple[int, Heard]]:
        ordered = self.ordered
        if ordered is None:
            ordered = self.ordered = sorted(self.seqs.items())
        return ordered

    def add_arrival(self, seq: int, neighbour: bytes, hops: int, at: float) -> None:
        """Note that held heartbeat ``seq`` came from ``neighbour``; fold it
        into ``agg`` if it is for the newest heartbeat (then it is last in
        the order a re-read follows)."""
        heard = self.seqs[seq]
        heard.arrive(neighbour, hops, at)
        agg = self.agg
        if agg is None:
            return
        if seq != self.sorted_seqs()[-1][0]:
            self.agg = None
            return
        offset = self.offset(at, heard.duration_ms)
        a = agg.get(neighbour)
        if a is None:
            agg[neighbour] = Summary(hops, offset)
        else:
            a.add(hops, offset)

    def aggregate(self) -> dict[bytes, Summary]:
        agg = self.agg
        if agg is None:
            agg = self.agg = {}
            offset_of = self.offset
            for _, heard in self.sorted_seqs():
                duration_ms = heard.duration_ms
                for n, (hops, at) in heard.arrivals.items():
                    offset = offset_of(at, duration_ms)
                    a = agg.get(n)
                    if a is None:
                        agg[n] = Summary(hops, offset)
                    else:
                        a.add(hops, offset)
        return agg

    def candidates(self, target: bytes, live, quality=None) -> list[Candidate]:
        """The upstream candidates toward this RSU (``target``) through the
        ``live`` neighbours. Latency: the one-way delay in excess of the
        fastest arrival held (``duration`` is on the RSU's clock; see
        vanet.routing.strategies). Loss: the share of the seqs from the
        oldest held to the newest that the neighbour did not deliver (a
        seq nobody delivered counts as lost for all). ``quality``: the
        node's ``ILinkQuality``, for each one's ``rssi_dbm`` (``None``:
        none)."""
        if not live:
            return []
        agg = self.aggregate()
        base = min(a.low for a in agg.values())
        ordered = self.sorted_seqs()
        window = ordered[-1][0] - ordered[0][0] + 1
        if quality is None:
            return [
                a.candidate(target, n, base, 1.0 - a.count / window)
                for n, a in agg.items()
                if n in live
            ]
        rssi = quality.rssi_dbm
        return [
            a.candidate(target, n, base, 1.0 - a.count / window, rssi(n))
            for n, a in agg.items()
            if n in live
        ]

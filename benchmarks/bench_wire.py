"""Legacy vs zero-copy frame writers, beside the floor.

Run: ``python benchmarks/bench_wire.py`` (``--quick`` for a shorter run).

For each writer kind and payload size it times three callables, all called
the same way (one Python call with the writer's arguments, into the same
reused ``bytearray``), so the harness overhead is equal:

- ``legacy``: the registry's legacy path (object tree, ``to_bytes``, copy);
- ``zero-copy``: the registry's default path;
- ``floor``: a bare ``bytearray`` slice copy of a frame of the same size,
  the least any writer that copies the frame could do.

Each figure is the median over many repeats, in ns per frame. Targets
(issue 2): zero-copy >= 5x faster than legacy, and within 2x of the floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit

from vanet.wire import legacy, parse, writer_for, writers

RSU = bytes.fromhex("020000000001")
OBU1 = bytes.fromhex("020000000011")
OBU2 = bytes.fromhex("020000000012")

KINDS = (
    "upstream_forward",
    "downstream",
    "downstream_forward",
    "heartbeat_reply",
    "signed_heartbeat_forward",
    "signed_heartbeat_reply",
    "signed_heartbeat_reply_forward",
)
PARSED = (
    "heartbeat",
    "heartbeat_reply",
    "upstream",
    "downstream",
    "signed_heartbeat",
    "signed_heartbeat_reply",
)
HASH, SIGNATURE = bytes(range(32)), bytes(range(64))
PAYLOAD_SIZES = (17, 1400)

SPEEDUP_TARGET = 5.0  # zero-copy at least this many times faster than legacy
FLOOR_TARGET = 2.0  # zero-copy at most this many times the floor


def _inner_frame(size: int) -> bytes:
    # A plausible inner Ethernet frame: dst, src, EtherType, then filler.
    head = b"\xff" * 6 + b"\x5a\x00\x00\x00\x0a\x02" + b"\x08\x06"
    return (head + bytes(range(256)) * 8)[:size]


def _received(kind_writer: str, *args) -> memoryview:
    """A received frame, as the bytes a transport would hand us."""
    buf = bytearray(2048)
    n = writers.WRITERS[kind_writer](buf, *args)
    return memoryview(bytes(buf[:n]))


def _cases(payload_size: int):
    """(kind, writer arguments after ``buf``, frame length) per kind."""
    payload = _inner_frame(payload_size)
    up = parse(_received("upstream", OBU2, payload, OBU2, OBU1))[0]
    down = parse(_received("downstream", RSU, OBU2, payload, RSU, OBU1))[0]
    hb = parse(_received("heartbeat", RSU, 5000, 42, 1, RSU))[0]
    signed_hb = parse(
        _received("signed_heartbeat", RSU, 5000, 42, 1, RSU, 8, HASH, HASH, SIGNATURE)
    )[0]
    signed_reply = parse(
        _received(
            "signed_heartbeat_reply", signed_hb, OBU2, HASH, SIGNATURE, OBU2, OBU1
        )
    )[0]
    return {
        "upstream_forward": (up, OBU1, RSU),
        "downstream": (RSU, OBU2, payload, RSU, OBU1),
        "downstream_forward": (down, OBU1, OBU2),
        "heartbeat_reply": (hb, OBU2, OBU2, RSU),
        "signed_heartbeat_forward": (signed_hb, OBU1, 2, HASH),
        "signed_heartbeat_reply": (signed_hb, OBU2, HASH, SIGNATURE, OBU2, RSU),
        "signed_heartbeat_reply_forward": (signed_reply, OBU1, RSU),
    }


# The floor, one function per arity so its call looks like the writer's.
def _floor3(buf, frame, _b, _c):
    buf[: len(frame)] = frame
    return len(frame)


def _floor4(buf, frame, _b, _c, _d):
    buf[: len(frame)] = frame
    return len(frame)


def _floor5(buf, frame, _b, _c, _d, _e):
    buf[: len(frame)] = frame
    return len(frame)


def _floor6(buf, frame, _b, _c, _d, _e, _f):
    buf[: len(frame)] = frame
    return len(frame)


_FLOORS = {3: _floor3, 4: _floor4, 5: _floor5, 6: _floor6}


def _timer(function, args) -> timeit.Timer:
    """A timer of ``function(buf, *args)`` into its own reused buffer."""
    names = [f"a{i}" for i in range(len(args))]
    namespace = dict(zip(names, args, strict=True))
    namespace["f"] = function
    namespace["buf"] = bytearray(2048)
    return timeit.Timer(f"f(buf, {', '.join(names)})", globals=namespace)


def _medians(timers, number: int, repeat: int) -> list[float]:
    """Median ns per call of each timer.

    The timers take turns within every repeat, so a burst of load on a
    shared machine slows all of them alike instead of one of them.
    """
    runs = [[] for _ in timers]
    for _ in range(repeat):
        for timer, samples in zip(timers, runs, strict=True):
            samples.append(timer.timeit(number) / number * 1e9)
    return [statistics.median(samples) for samples in runs]


def run(quick: bool = False) -> bool:
    number, repeat = (1000, 15) if quick else (2000, 101)
    rows = []
    for size in PAYLOAD_SIZES:
        cases = _cases(size)
        for kind in KINDS:
            if kind.startswith("signed") and size != PAYLOAD_SIZES[0]:
                continue  # control messages have no payload: once is enough
            args = cases[kind]
            probe = bytearray(2048)
            n = writer_for(kind).write(probe, *args)
            legacy_buf = bytearray(2048)
            assert writer_for(kind, "legacy").write(legacy_buf, *args) == n
            assert legacy_buf[:n] == probe[:n], f"{kind}: paths disagree"
            frame = bytes(probe[:n])
            floor = _FLOORS[len(args)]
            legacy_ns, zero_ns, floor_ns = _medians(
                [
                    _timer(writer_for(kind, "legacy").write, args),
                    _timer(writer_for(kind).write, args),
                    _timer(floor, (frame,) + args[1:]),
                ],
                number,
                repeat,
            )
            rows.append((kind, size, n, legacy_ns, zero_ns, floor_ns))

    header = (
        f"{'writer':<31}{'payload':>8}{'frame':>7}{'legacy':>10}"
        f"{'zero-copy':>11}{'floor':>8}{'speedup':>9}{'zc/floor':>10}"
    )
    print("medians in ns/frame")
    print(header)
    print("-" * len(header))
    ok = True
    for kind, size, n, legacy_ns, zero_ns, floor_ns in rows:
        speedup = legacy_ns / zero_ns
        to_floor = zero_ns / floor_ns
        ok = ok and speedup >= SPEEDUP_TARGET and to_floor <= FLOOR_TARGET
        print(
            f"{kind:<31}{size:>8}{n:>7}{legacy_ns:>10.0f}{zero_ns:>11.0f}"
            f"{floor_ns:>8.0f}{speedup:>8.1f}x{to_floor:>9.2f}x"
        )
    worst_speedup = min(r[3] / r[4] for r in rows)
    worst_floor = max(r[4] / r[5] for r in rows)
    print()
    print(
        f"zero-copy >= {SPEEDUP_TARGET:g}x faster than legacy: "
        f"{'yes' if worst_speedup >= SPEEDUP_TARGET else 'NO'} "
        f"(worst {worst_speedup:.1f}x)"
    )
    print(
        f"zero-copy within {FLOOR_TARGET:g}x of floor: "
        f"{'yes' if worst_floor <= FLOOR_TARGET else 'NO'} "
        f"(worst {worst_floor:.2f}x)"
    )
    return ok


def run_parse(quick: bool = False) -> None:
    """For information: parsing one received frame into views, beside the
    legacy path's ``Message.from_bytes`` (which builds its tree on top)."""
    number, repeat = (1000, 15) if quick else (2000, 51)
    print("parse, medians in ns/frame (no target)")
    header = f"{'message':<24}{'frame':>7}{'parse':>10}{'Message.from_bytes':>20}"
    print(header)
    print("-" * len(header))
    for size in PAYLOAD_SIZES:
        for kind in PARSED:
            if "heartbeat" in kind and size != PAYLOAD_SIZES[0]:
                continue  # control messages have no payload
            args = _cases(size)
            received = {
                "heartbeat": args["heartbeat_reply"][0].raw,
                "heartbeat_reply": _received(
                    "heartbeat_reply", args["heartbeat_reply"][0], OBU2, OBU2, RSU
                ),
                "upstream": args["upstream_forward"][0].raw,
                "downstream": args["downstream_forward"][0].raw,
                "signed_heartbeat": args["signed_heartbeat_forward"][0].raw,
                "signed_heartbeat_reply": args["signed_heartbeat_reply_forward"][0].raw,
            }[kind]
            frame = bytes(received)
            parse_ns, legacy_ns = _medians(
                [
                    timeit.Timer("f(a)", globals={"f": parse, "a": frame}),
                    timeit.Timer(
                        "f(a)", globals={"f": legacy.Message.from_bytes, "a": frame}
                    ),
                ],
                number,
                repeat,
            )
            print(f"{kind:<24}{len(frame):>7}{parse_ns:>10.0f}{legacy_ns:>20.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats, for a smoke run"
    )
    options = parser.parse_args(argv)
    targets_hold = run(quick=options.quick)
    print()
    run_parse(quick=options.quick)
    return 0 if targets_hold else 1


if __name__ == "__main__":
    sys.exit(main())

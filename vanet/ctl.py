"""vanetctl: read a running node's control endpoint.

vanetctl [--url URL] [--json] status|routes|neighbours|clients|stats
vanetctl [--url URL] top          a live terminal dashboard of the node
vanetctl top --sim URL            ... of a running vanet-sim (its HTTP API)

Tables rename two of ``/status``'s keys so that they say what they measure
(``--json`` prints the node's own keys): a route's ``latency_ms`` is the
round trip from this node to the target (RTT_MS; at an RSU, the vehicle's
round trip via its gateway RSU, as ``vanet-sim`` and ``/api/v1/node_info``
show it), and an OBU's upstream candidate's ``min_ms`` is how much later than
the fastest copy that next hop's heartbeats arrived (LAG_MS).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

DEFAULT_URL = "http://127.0.0.1:7070"
COMMANDS = ("status", "routes", "neighbours", "clients", "stats", "top")
DASHBOARD_MISSING = (
    "vanetctl top needs the terminal dashboard's extra: pip install 'vanet[tui]'"
)

# docs/protocol.md §4: what the cores' millisecond keys measure, by role.
ROUTE_COLUMNS = {"latency_ms": "rtt_ms", "avg_ms": "rtt_avg_ms"}
CANDIDATE_COLUMNS = {
    "rsu": {"min_ms": "rtt_ms", "avg_ms": "rtt_avg_ms"},
    "obu": {"min_ms": "lag_ms", "avg_ms": "lag_avg_ms"},
}
EPILOG = (
    "RTT_MS (routes): the round trip from this node to the target, from "
    "sending (an RSU) or relaying (an OBU) a heartbeat to receiving the target's reply to "
    "it, the minimum over the live history, in ms. At an RSU this is the "
    "vehicle's round trip via its gateway RSU: the value vanet-sim and its "
    "/api/v1/node_info (rtt_ms) show for that vehicle. LAG_MS (an OBU's upstream "
    "candidates): how much later than the fastest copy that next hop's "
    "heartbeats arrived, so 0 for the fastest path; an OBU cannot measure "
    "its own round trip. --json prints the node's /status keys unchanged "
    "(latency_ms, min_ms)."
)


def fetch_status(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(
        url.rstrip("/") + "/status", timeout=timeout
    ) as response:
        return json.load(response)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Aligned text table of ``rows`` (dicts), one column per key."""
    if not rows:
        return "(none)"
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[i]) for line in cells))
        for i, column in enumerate(columns)
    ]
    lines = [
        "  ".join(column.upper().ljust(width) for column, width in zip(columns, widths))
    ]
    lines.extend(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths))
        for line in cells
    )
    return "\n".join(line.rstrip() for line in lines)


def _rows(section, key_name: str) -> list[dict]:
    """Lists of dicts stay; a dict of dicts becomes rows keyed by ``key_name``."""
    if isinstance(section, list):
        return [row if isinstance(row, dict) else {key_name: row} for row in section]
    if isinstance(section, dict):
        return [
            {key_name: key, **value}
            if isinstance(value, dict)
            else {key_name: key, "value": value}
            for key, value in section.items()
        ]
    return []


def _renamed(rows: list[dict], names: dict[str, str]) -> list[dict]:
    return [{names.get(key, key): value for key, value in row.items()} for row in rows]


def _candidate_rows(status: dict) -> list[dict]:
    """An OBU's candidate list, or an RSU's ``{target: [candidate]}``."""
    candidates = status.get("candidates") or []
    if isinstance(candidates, dict):
        candidates = [c for cands in candidates.values() for c in cands]
    names = CANDIDATE_COLUMNS.get(status.get("role"), {})
    return _renamed([c for c in candidates if isinstance(c, dict)], names)


def render(command: str, status: dict) -> str:
    if command == "status":
        summary = {
            key: status.get(key)
            for key in ("role", "name", "mac", "strategy", "gateway", "upstream")
            if key in status
        }
        width = max((len(key) for key in summary), default=0)
        lines = [
            f"{key.ljust(width)}  {_cell(value)}" for key, value in summary.items()
        ]
        candidates = _candidate_rows(status)
        if candidates:
            lines += ["", "candidates", table(candidates)]
        return "\n".join(lines)
    if command == "routes":
        rows = _rows(status.get("routes", []), "target")
        return table(_renamed(rows, ROUTE_COLUMNS))
    if command == "neighbours":
        return table(_rows(status.get("neighbours", []), "neighbour"))
    if command == "clients":
        return table(_rows(status.get("clients", {}), "client"))
    if command == "stats":
        rows = [
            {"counter": k, "value": v}
            for k, v in sorted(status.get("counters", {}).items())
        ]
        rows += [
            {"counter": f"drop:{k}", "value": v}
            for k, v in sorted(status.get("drops", {}).items())
        ]
        return table(rows, ["counter", "value"])
    raise ValueError(command)


def top(sim_url: str | None, node_url: str) -> int:
    """The terminal dashboard (Textual, an optional extra) until the user
    quits."""
    try:
        from vanet.dashboard.app import run_dashboard
    except ImportError:
        print(f"vanetctl: {DASHBOARD_MISSING}", file=sys.stderr)
        return 2
    from vanet.dashboard.data import NodeSource, SimSource

    run_dashboard(SimSource(sim_url) if sim_url else NodeSource(node_url))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vanetctl",
        description="Show a running vanet node's state from its control endpoint.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"control endpoint (default {DEFAULT_URL})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument(
        "--sim",
        metavar="URL",
        help="top: a running vanet-sim's HTTP API (e.g. http://127.0.0.1:3030) "
        "instead of a node",
    )
    parser.add_argument("command", choices=COMMANDS, help="what to show")
    args = parser.parse_args(argv)
    if args.command == "top":
        return top(args.sim, args.url)
    if args.sim:
        parser.error("--sim goes with top")
    try:
        status = fetch_status(args.url)
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(f"vanetctl: cannot read {args.url}/status: {error}", file=sys.stderr)
        return 1
    if args.json:
        section = {
            "status": status,
            "routes": status.get("routes"),
            "neighbours": status.get("neighbours"),
            "clients": status.get("clients"),
            "stats": {"counters": status.get("counters"), "drops": status.get("drops")},
        }[args.command]
        print(json.dumps(section, indent=1, sort_keys=True))
    else:
        print(render(args.command, status))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

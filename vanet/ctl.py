"""vanetctl: read a running node's control endpoint.

vanetctl [--url URL] [--json] status|routes|neighbours|clients|stats
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

DEFAULT_URL = "http://127.0.0.1:7070"
COMMANDS = ("status", "routes", "neighbours", "clients", "stats")


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


def render(command: str, status: dict) -> str:
    if command == "status":
        summary = {
            key: status.get(key)
            for key in ("role", "name", "mac", "strategy", "gateway", "upstream")
            if key in status
        }
        candidates = status.get("candidates") or status.get("upstream_candidates")
        if candidates is not None:
            summary["candidates"] = candidates
        width = max(len(key) for key in summary)
        return "\n".join(
            f"{key.ljust(width)}  {_cell(value)}" for key, value in summary.items()
        )
    if command == "routes":
        return table(_rows(status.get("routes", []), "target"))
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vanetctl",
        description="Show a running vanet node's state from its control endpoint.",
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"control endpoint (default {DEFAULT_URL})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("command", choices=COMMANDS, help="what to show")
    args = parser.parse_args(argv)
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

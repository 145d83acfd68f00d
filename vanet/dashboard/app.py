"""The terminal dashboard (Textual): one tab per view, refreshed every
second from a ``SimSource`` or ``NodeSource`` (``vanet.dashboard.data``).

Keys: 1-6 pick a view, ``s`` sorts the channels by the next column (a
click on a column header sorts by it; again reverses), ``/`` filters the
route events, ``r`` refreshes now, ``q`` quits.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    TabbedContent,
    TabPane,
    Tree,
)

from vanet.dashboard.data import Branch, Table, Views

VIEWS = ("metrics", "channels", "upstreams", "events", "nodes", "topology")
REFRESH_S = 1.0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _sort_key(value: Any) -> tuple:
    # Numbers before text, None last; never compares a number with a string.
    if value is None:
        return (2, 0, "")
    if isinstance(value, int | float):
        return (0, value, "")
    return (1, 0, str(value))


class Dashboard(App):
    """Views of a simulation or a node, live."""

    TITLE = "vanet"
    CSS = """
    DataTable { height: 1fr; }
    #flows-table { height: auto; max-height: 12; }
    """
    BINDINGS = [
        *(
            Binding(str(i + 1), f"show('{view}')", view, show=False)
            for i, view in enumerate(VIEWS)
        ),
        Binding("s", "sort_channels", "sort"),
        Binding("slash", "filter_events", "filter events"),
        Binding("r", "refresh_now", "refresh"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, source, refresh_s: float = REFRESH_S) -> None:
        super().__init__()
        self.source = source
        self.refresh_s = refresh_s
        self.views: Views | None = None
        self.error: str | None = None
        self.refreshes = 0
        self.sort_column = 0
        self.sort_reverse = False

    def compose(self) -> ComposeResult:
        labels = self.source.LABELS
        yield Header()
        with TabbedContent(initial="metrics"):
            with TabPane(labels["metrics"], id="metrics"):
                yield DataTable(id="metrics-table", zebra_stripes=True)
                yield DataTable(id="flows-table", zebra_stripes=True)
            with TabPane(labels["channels"], id="channels"):
                yield DataTable(id="channels-table", zebra_stripes=True)
            with TabPane(labels["upstreams"], id="upstreams"):
                yield DataTable(id="upstreams-table", zebra_stripes=True)
            with TabPane(labels["events"], id="events"):
                yield Input(
                    placeholder="filter: node, event or detail", id="events-filter"
                )
                yield DataTable(id="events-table", zebra_stripes=True)
            with TabPane(labels["nodes"], id="nodes"):
                yield DataTable(id="nodes-table", zebra_stripes=True)
            with TabPane(labels["topology"], id="topology"):
                yield Tree("network", id="topology-tree")
        yield Footer()

    def on_mount(self) -> None:
        # The header's second line says whether the data are live.
        self.sub_title = "connecting…"
        self.refresh_now()
        self.set_interval(self.refresh_s, self.refresh_now)

    # -- reading ---------------------------------------------------------------

    def refresh_now(self) -> None:
        self._read()

    def action_refresh_now(self) -> None:
        self.refresh_now()

    @work(thread=True, exclusive=True, group="read")
    def _read(self) -> None:
        try:
            views = self.source.read()
        except (OSError, ValueError, KeyError, TypeError) as error:
            self.call_from_thread(self._failed, str(error) or type(error).__name__)
            return
        self.call_from_thread(self._show, views)

    def _failed(self, error: str) -> None:
        self.error = error
        self.sub_title = f"NO ANSWER from {self.source.url}: {error} (retrying)"

    def _show(self, views: Views) -> None:
        self.views = views
        self.error = None
        self.refreshes += 1
        self.title = views.title
        self.sub_title = f"live · refresh {self.refreshes}"
        self._fill("metrics-table", views.metrics)
        self._fill("flows-table", views.flows)
        self._fill("channels-table", self._sorted(views.channels))
        self._fill("upstreams-table", views.upstreams)
        self._fill("nodes-table", views.nodes)
        self._show_events()
        self._show_tree(views.tree)

    # -- showing ---------------------------------------------------------------

    def _fill(self, table_id: str, table: Table) -> None:
        widget = self.query_one(f"#{table_id}", DataTable)
        if tuple(str(c.label) for c in widget.columns.values()) != table.columns:
            widget.clear(columns=True)
            widget.add_columns(*table.columns)
        else:
            widget.clear()
        for row in table.rows:
            widget.add_row(*(_cell(v) for v in row))

    def _sorted(self, table: Table) -> Table:
        column = self.sort_column % max(1, len(table.columns))
        rows = sorted(
            table.rows, key=lambda r: _sort_key(r[column]), reverse=self.sort_reverse
        )
        return Table(table.columns, rows)

    def _show_events(self) -> None:
        if self.views is None:
            return
        wanted = self.query_one("#events-filter", Input).value.strip().lower()
        events = [e for e in self.views.events if wanted in e.text().lower()]
        self._fill(
            "events-table",
            Table(
                ("s_ago", "node", "event", "details"),
                [(e.s_ago, e.node, e.event, e.details) for e in events],
            ),
        )

    def _show_tree(self, branches: list[Branch]) -> None:
        tree = self.query_one("#topology-tree", Tree)
        tree.clear()
        tree.root.expand()

        def add(parent, branch: Branch) -> None:
            if branch.children:
                node = parent.add(branch.label, expand=True)
                for child in branch.children:
                    add(node, child)
            else:
                parent.add_leaf(branch.label)

        for branch in branches:
            add(tree.root, branch)

    # -- actions ---------------------------------------------------------------

    def action_show(self, view: str) -> None:
        self.query_one(TabbedContent).active = view

    def action_sort_channels(self) -> None:
        self.sort_column += 1
        self.sort_reverse = False
        if self.views is not None:
            self._fill("channels-table", self._sorted(self.views.channels))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.data_table.id != "channels-table" or self.views is None:
            return
        if event.column_index == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = event.column_index, False
        self._fill("channels-table", self._sorted(self.views.channels))

    def action_filter_events(self) -> None:
        self.action_show("events")
        self.query_one("#events-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "events-filter":
            self._show_events()


def run_dashboard(source) -> None:
    """Run the dashboard in this terminal until the user quits."""
    Dashboard(source).run()

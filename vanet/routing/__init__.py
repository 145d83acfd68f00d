"""Sans-I/O routing (docs/protocol.md §3-§6): the cores take ``(message,
now)`` and return actions; nothing here imports Twisted.

- ``obu``, ``rsu``: the routing cores (``IRoutingCore``).
- ``actions``: what a core (or a data plane) asks the node to do.
- ``relay``, ``replies``, ``liveness``, ``selection``, ``sources``: the
  OBU core, by what it does.
- ``routes``: reply logs and the route table toward vehicles (both roles).
- ``summary``, ``candidates``: running summaries and what strategies rank.
- ``strategies``: the shipped strategies and ``BaseStrategy``.
- ``events``: counting decisions and drops.
"""

"""The simulator: channel model, topology files, traffic, HTTP API.

- ``vanet.sim.channel``: ``ChannelParams``, ``ChannelMedium`` (an ``IMedium``).
- ``vanet.sim.topology``: the ``Topology`` a run is built from.
- ``vanet.sim.loader``: ``load_topology(path)`` for INI (and the older YAML, through ``vanet.sim.legacy_yaml``).
- ``vanet.sim.traffic``: test frames and per-flow delivery statistics.
- ``vanet.sim.api``: ``ISimulation`` and the twisted.web JSON API over it.
- ``vanet.sim.base``: ``SimulationBase``, ``ISimulation`` answered once for
  both modes from each node's status.
- ``vanet.sim.inprocess`` and ``vanet.sim.netns``: the two modes.
- ``vanet.sim.runner``, ``vanet.sim.cli``, ``vanet.sim.twistd``: running
  one (``vanet-sim``, ``twistd vanet-sim``).
- ``vanet.sim.reports``: ``/node_info`` entries, NetJSON graph and
  Prometheus text from plain dicts.
"""

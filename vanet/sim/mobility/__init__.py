"""Where the simulator's nodes are and how they move: the ``[mobility]``
section (``settings``), the models (``highway`` with ``idm`` car following,
static positions), and the ``driver`` that steps them on the simulation's
clock and turns positions into radio links (``vanet.sim.radio``)."""

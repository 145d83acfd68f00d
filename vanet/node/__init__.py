"""Nodes: the link protocol, the engine that carries out the cores' actions,
and the twistd services that wire them to real or in-memory devices."""

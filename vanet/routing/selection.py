"""Choosing the gateway RSU and the upstream next hop (docs/protocol.md §4
and §6), as a pure function of the ranked candidates and the current choice.

``choose`` is what the OBU core calls after re-ranking; it holds no state
and counts nothing: the core keeps the returned ``Choice`` and counts the
returned events.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

import attrs

from vanet.mac import format_mac
from vanet.routing.actions import RouteEvent
from vanet.routing.candidates import Candidate


@attrs.frozen(slots=True)
class Choice:
    """Where an OBU sends upstream traffic: the ``gateway`` RSU, the
    ``upstream`` next hop toward it, and ``candidates``, the next hops
    toward the gateway kept for failover (the upstream first)."""

    gateway: bytes | None = None
    upstream: bytes | None = None
    candidates: tuple[Candidate, ...] = ()


def choose(
    ranked_by_rsu: Mapping[bytes, list[Candidate]],
    current: Choice,
    strategy,
    *,
    threshold: float,
    demoted: Container[bytes] = (),
    demoted_reason: str = "send_failed",
    infeasible: Mapping[bytes, Container[bytes]] | None = None,
    keep: int = 3,
) -> tuple[Choice, list[RouteEvent]]:
    """The next choice, and the ``gateway_*`` / ``upstream_*`` events that
    lead from ``current`` to it.

    ``ranked_by_rsu``: each RSU with live candidates, in the order the OBU
    first heard them, mapped to its candidates best first (by the
    strategy's ``upstream_key``, next hops whose sends failed last).
    The gateway is the best RSU by ``gateway_key``, left only when it has
    no candidate or past the strategy's ``gateway_switch_reason`` with
    ``threshold`` ("late switch"). The upstream is the gateway's first
    candidate, kept against a better one unless the strategy's
    ``upstream_switch_reason`` gives a reason (hysteresis), or its send
    failed (it is in ``demoted``; the switch gives ``demoted_reason``).
    The candidates are feasible ones only (docs/protocol.md §4.8):
    ``infeasible`` maps an RSU to its live next hops left out for not being
    feasible; losing the upstream for that gives the reason ``infeasible``. ``keep``: how many candidates to
    keep.
    """
    events: list[RouteEvent] = []
    old_gateway = current.gateway
    dropped = (infeasible or {}).get(old_gateway, ())
    new_gateway, reason = _choose_gateway(
        ranked_by_rsu, old_gateway, strategy, threshold
    )
    if reason == "gateway_lost" and dropped:
        reason = "infeasible"  # live next hops toward it, none feasible
    if new_gateway != old_gateway and new_gateway is not None:
        name = "gateway_selected" if old_gateway is None else "gateway_switched"
        events.append(
            RouteEvent(
                name,
                {
                    "gateway": format_mac(new_gateway),
                    "previous": None
                    if old_gateway is None
                    else format_mac(old_gateway),
                    "reason": reason,
                    "hops": ranked_by_rsu[new_gateway][0].hops,
                },
            )
        )
    if new_gateway is None and old_gateway is not None:
        events.append(
            RouteEvent(
                "gateway_lost",
                {
                    "previous": format_mac(old_gateway),
                    "reason": "infeasible" if dropped else "no_live_neighbour",
                },
            )
        )

    ranked = ranked_by_rsu.get(new_gateway, []) if new_gateway else []
    old_up = current.upstream
    by_hop = {c.next_hop: c for c in ranked}
    current_up = by_hop.get(old_up) if old_up is not None else None
    new_up, reason = old_up, None
    if not ranked:
        new_up = None
    elif new_gateway != old_gateway and old_gateway is not None:
        new_up, reason = ranked[0].next_hop, "gateway_switched"
    elif current_up is None:
        new_up = ranked[0].next_hop
        if old_up is None:
            reason = "initial"
        elif old_up in dropped:
            reason = "infeasible"
        else:
            reason = "upstream_lost"
    elif ranked[0].next_hop != old_up:
        if old_up in demoted:
            reason = demoted_reason
        else:
            reason = strategy.upstream_switch_reason(current_up, ranked[0])
        if reason:
            new_up = ranked[0].next_hop
    if new_up != old_up:
        if new_up is None:
            lost = "infeasible" if old_up in dropped else "no_live_candidate"
            events.append(
                RouteEvent(
                    "upstream_lost", {"previous": format_mac(old_up), "reason": lost}
                )
            )
        else:
            chosen = by_hop[new_up]
            events.append(
                RouteEvent(
                    "upstream_selected" if old_up is None else "upstream_switched",
                    {
                        "upstream": format_mac(new_up),
                        "previous": None if old_up is None else format_mac(old_up),
                        "gateway": format_mac(new_gateway),
                        "reason": reason,
                        "hops": chosen.hops,
                        "score": chosen.score,
                    },
                )
            )
    if new_up is None:
        candidates: tuple[Candidate, ...] = ()
    else:
        rest = [c for c in ranked if c.next_hop != new_up]
        candidates = (by_hop[new_up], *rest[: keep - 1])
    return Choice(new_gateway, new_up, candidates), events


def _choose_gateway(
    ranked_by_rsu: Mapping[bytes, list[Candidate]],
    old: bytes | None,
    strategy,
    threshold: float,
) -> tuple[bytes | None, str | None]:
    # The best RSU, left only past the threshold or when dead; and why.
    if not ranked_by_rsu:
        return None, None
    best = min((r[0] for r in ranked_by_rsu.values()), key=strategy.gateway_key)
    if old not in ranked_by_rsu:
        return best.target, "initial" if old is None else "gateway_lost"
    if best.target != old:
        reason = strategy.gateway_switch_reason(ranked_by_rsu[old][0], best, threshold)
        if reason:
            return best.target, reason
    return old, None

"""Gateway and upstream choice as a pure function (docs/protocol.md §4 and
§6), and the running summary every candidate table is built from."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from vanet.discovery import load_strategy
from vanet.mac import format_mac
from vanet.routing.candidates import Candidate
from vanet.routing.selection import Choice, choose
from vanet.routing.summary import Summary, summarize

R1 = bytes.fromhex("02000000aa01")
R2 = bytes.fromhex("02000000aa02")
A = bytes.fromhex("020000000011")
B = bytes.fromhex("020000000012")
C = bytes.fromhex("020000000013")


NOTHING = Choice()


def cand(rsu, next_hop, hops, ms=None):
    return Candidate(rsu, next_hop, hops, ms, ms, 0 if ms is None else 1)


def ranked(strategy, *cands):
    return sorted(cands, key=strategy.upstream_key)


class ChooseTests(SynchronousTestCase):
    def setUp(self):
        self.s = load_strategy("latency")

    def choose(self, by_rsu, current=NOTHING, **kwargs):
        kwargs.setdefault("threshold", 0.1)
        return choose(by_rsu, current, self.s, **kwargs)

    def test_nothing_heard_nothing_chosen(self):
        self.assertEqual(self.choose({}), (Choice(), []))

    def test_first_choice_names_gateway_and_upstream(self):
        first = ranked(self.s, cand(R1, A, 2, 5.0), cand(R1, B, 2, 9.0))
        choice, events = self.choose({R1: first})
        self.assertEqual((choice.gateway, choice.upstream), (R1, A))
        self.assertEqual([c.next_hop for c in choice.candidates], [A, B])
        self.assertEqual(
            [(e.event, e.fields["reason"]) for e in events],
            [("gateway_selected", "initial"), ("upstream_selected", "initial")],
        )
        self.assertEqual(events[1].fields["upstream"], format_mac(A))

    def test_hysteresis_keeps_a_slightly_worse_upstream(self):
        current = Choice(R1, B, (cand(R1, B, 2, 5.0),))
        better = ranked(self.s, cand(R1, A, 2, 4.9), cand(R1, B, 2, 5.0))
        choice, events = self.choose({R1: better}, current)
        self.assertEqual(choice.upstream, B)
        self.assertEqual(events, [])
        # ... and the failover list still starts with the upstream.
        self.assertEqual([c.next_hop for c in choice.candidates], [B, A])

    def test_a_failed_upstream_is_left_at_once(self):
        current = Choice(R1, B, (cand(R1, B, 2, 5.0),))
        by_rsu = {R1: [cand(R1, A, 2, 4.9), cand(R1, B, 2, 5.0)]}
        choice, events = self.choose(by_rsu, current, demoted={B})
        self.assertEqual(choice.upstream, A)
        self.assertEqual(
            [(e.event, e.fields["reason"]) for e in events],
            [("upstream_switched", "send_failed")],
        )

    def test_gateway_moves_only_past_the_threshold(self):
        current = Choice(R1, A, (cand(R1, A, 10),))
        by_rsu = {R1: [cand(R1, A, 10)], R2: [cand(R2, C, 9)]}
        choice, _ = self.choose(by_rsu, current, threshold=0.2)
        self.assertEqual(choice.gateway, R1)  # 10% closer is not 20%
        choice, events = self.choose(by_rsu, current, threshold=0.1)
        self.assertEqual((choice.gateway, choice.upstream), (R2, C))
        self.assertEqual(
            [(e.event, e.fields["reason"]) for e in events],
            [
                ("gateway_switched", "fewer_hops"),
                ("upstream_switched", "gateway_switched"),
            ],
        )

    def test_losing_every_candidate(self):
        current = Choice(R1, A, (cand(R1, A, 1),))
        choice, events = self.choose({}, current)
        self.assertEqual(choice, Choice())
        self.assertEqual([e.event for e in events], ["gateway_lost", "upstream_lost"])

    def test_keeps_at_most_keep_candidates(self):
        cands = ranked(self.s, cand(R1, A, 1), cand(R1, B, 2), cand(R1, C, 3))
        choice, _ = self.choose({R1: cands}, keep=2)
        self.assertEqual([c.next_hop for c in choice.candidates], [A, B])

    def test_same_input_same_answer(self):
        by_rsu = {R1: [cand(R1, A, 2, 5.0)], R2: [cand(R2, B, 1, 7.0)]}
        self.assertEqual(self.choose(by_rsu), self.choose(by_rsu))


class SummaryTests(SynchronousTestCase):
    def test_running_summary_of_measured_and_unmeasured_samples(self):
        s = Summary(3)  # unmeasured: hops only
        self.assertEqual(s.candidate(R1, A), Candidate(R1, A, 3))
        s.add(2, 4.0)
        s.add(4, 2.0)
        s.add(1, None)
        self.assertEqual(s.candidate(R1, A), Candidate(R1, A, 1, 2.0, 3.0, 2))
        # Offsets are reported relative to a base.
        self.assertEqual(s.candidate(R1, A, 1.0), Candidate(R1, A, 1, 1.0, 2.0, 2))

    def test_removing_the_lowest_asks_for_a_new_minimum(self):
        s = Summary(1, 2.0)
        s.add(1, 5.0)
        self.assertFalse(s.remove(5.0))
        s.add(1, 6.0)
        self.assertTrue(s.remove(2.0))
        self.assertEqual((s.total, s.count), (6.0, 1))

    def test_summarize_groups_by_next_hop_in_first_appearance_order(self):
        observations = [(B, 2, 4.0), (A, 3, None), (B, 1, 2.0), (A, 2, 8.0)]
        self.assertEqual(
            summarize(R1, observations),
            [Candidate(R1, B, 1, 2.0, 3.0, 2), Candidate(R1, A, 2, 8.0, 8.0, 1)],
        )

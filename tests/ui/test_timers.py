"""ui.timers.at_turn_end: work deferred to the end of the event-loop turn runs once, in order."""

from __future__ import annotations

import pytest

from ui.timers import at_turn_end, cancel_at_turn_end


def test_calls_run_once_per_turn_in_the_order_first_asked(qapp):
    ran = []

    class Listener:
        def __init__(self, name):
            self.name = name

        def tell(self):
            ran.append(self.name)

    a, b = Listener("a"), Listener("b")
    for _ in range(3):
        at_turn_end(a.tell)
        at_turn_end(b.tell)
        at_turn_end(a.tell)
    assert ran == []  # nothing before control returns to the event loop
    qapp.processEvents()
    assert ran == ["a", "b"]
    qapp.processEvents()
    assert ran == ["a", "b"]  # not again without being asked
    at_turn_end(b.tell)
    qapp.processEvents()
    assert ran == ["a", "b", "b"]


def test_a_cancelled_call_does_not_run_and_a_failing_one_does_not_stop_the_others(qapp):
    ran = []

    def keep():
        ran.append("kept")

    def drop():
        ran.append("dropped")

    def fail():
        raise ValueError("boom")

    at_turn_end(drop)
    at_turn_end(fail)
    at_turn_end(keep)
    cancel_at_turn_end(drop)
    cancel_at_turn_end(lambda: None)  # never asked for: nothing happens
    from ui.timers import _turn_end

    with pytest.raises(ValueError, match="boom"):
        _turn_end._run()  # what the timer runs (a slot's exception would only be printed)
    assert ran == ["kept"]
    qapp.processEvents()
    assert ran == ["kept"]

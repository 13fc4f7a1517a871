from __future__ import annotations

import threading

from books_sync.zoho.pacing import SlidingWindowPacer
from books_sync.zoho.retry import backoff_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_window_admits_k_calls_then_waits_for_the_oldest_completion() -> None:
    clock = FakeClock()
    pacer = SlidingWindowPacer(3, 10.0, clock=clock)
    for _ in range(3):
        pacer.acquire()
        clock.now += 1
        pacer.release()  # completions at 1, 2, 3
    blocked = threading.Event()
    admitted = threading.Event()

    def fourth() -> None:
        blocked.set()
        pacer.acquire()
        admitted.set()

    thread = threading.Thread(target=fourth)
    thread.start()
    blocked.wait()
    assert not admitted.wait(0.2)  # window still full at t=3
    clock.now = 11.0  # the first completion (t=1) has left the window
    with pacer._cond:
        pacer._cond.notify_all()
    assert admitted.wait(2)
    thread.join()


def test_in_flight_calls_count_against_the_window() -> None:
    pacer = SlidingWindowPacer(2, 60.0)
    pacer.acquire()
    pacer.acquire()
    done = threading.Event()

    def third() -> None:
        pacer.acquire()
        done.set()

    thread = threading.Thread(target=third, daemon=True)
    thread.start()
    assert not done.wait(0.2)
    pacer.release()  # completed, but still inside the 60 s window: the third call keeps waiting
    assert not done.wait(0.2)
    thread.join(0.01)


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_seconds(0, 1.0, 60.0, lambda: 0.0) == 0.5
    assert backoff_seconds(0, 1.0, 60.0, lambda: 1.0) == 1.0
    assert backoff_seconds(3, 1.0, 60.0, lambda: 0.0) == 4.0
    assert backoff_seconds(10, 1.0, 60.0, lambda: 1.0) == 60.0

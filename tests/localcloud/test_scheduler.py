"""The local cloud's scheduler: tasks run on a bounded pool, delayed ones in the order they fall
due, and stop() drops what has not started and leaves no thread behind."""

from __future__ import annotations

import threading

from localcloud.scheduler import Scheduler


def test_delayed_tasks_run_in_the_order_they_fall_due():
    scheduler = Scheduler("test-order", workers=1)
    scheduler.start()
    ran: list[str] = []
    done = threading.Event()
    try:
        scheduler.submit(lambda: (ran.append("late"), done.set()), delay=0.3)
        scheduler.submit(ran.append, "soon", delay=0.05)
        scheduler.submit(ran.append, "now")
        assert done.wait(timeout=10)
    finally:
        scheduler.stop()
    assert ran == ["now", "soon", "late"]


def test_no_more_tasks_run_at_once_than_the_pool_has_workers():
    scheduler = Scheduler("test-bound", workers=2)
    scheduler.start()
    running, most, lock = 0, 0, threading.Lock()
    release, finished = threading.Event(), threading.Semaphore(0)

    def task() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(timeout=10)
        with lock:
            running -= 1
        finished.release()

    try:
        for _ in range(6):
            scheduler.submit(task)
        release.set()
        for _ in range(6):
            assert finished.acquire(timeout=10)
    finally:
        scheduler.stop()
    assert most == 2


def test_stop_drops_pending_tasks_and_ends_its_threads():
    scheduler = Scheduler("test-stop", workers=1)
    scheduler.start()
    ran: list[int] = []
    scheduler.submit(ran.append, 1, delay=60)
    scheduler.stop()
    scheduler.submit(ran.append, 2)
    assert ran == []
    assert not scheduler.timer.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("test-stop")]


def test_a_failing_task_does_not_stop_the_next():
    scheduler = Scheduler("test-failure", workers=1)
    scheduler.start()
    done = threading.Event()
    try:
        scheduler.submit(lambda: 1 / 0)
        scheduler.submit(done.set)
        assert done.wait(timeout=10)
    finally:
        scheduler.stop()

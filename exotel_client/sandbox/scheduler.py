"""One thread that runs timed work (status steps, callback retries) from a heap."""

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Scheduler:
    """``call_later`` without a thread per message: a heap ordered by due time."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sandbox-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Drop pending work and end the thread."""
        with self._ready:
            self._stopped = True
            self._heap.clear()
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def call_later(self, delay: float, job: Callable[[], None]) -> None:
        """Run ``job`` on the scheduler thread after ``delay`` seconds."""
        with self._ready:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), job))
            self._ready.notify()

    def pending(self) -> int:
        with self._ready:
            return len(self._heap)

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                job()
            except Exception:
                log.exception("sandbox: scheduled job failed")

    def _next_job(self) -> Callable[[], None] | None:
        """Block until the earliest job is due; None once stopped."""
        with self._ready:
            while not self._stopped:
                if self._heap and self._heap[0][0] <= time.monotonic():
                    return heapq.heappop(self._heap)[2]
                timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                self._ready.wait(timeout)
            return None

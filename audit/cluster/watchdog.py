"""A scan that stops making progress stops: when no unit or batch of a watched step has finished for `timeout`
seconds, the main thread is interrupted as Ctrl-C would (finished work is kept) and the scan ends with `Stalled`,
one line naming the step, what each actor asks and what the Ray cluster has free."""
from __future__ import annotations

import _thread
import logging
import signal
import threading
import time

log = logging.getLogger(__name__)


class Stalled(RuntimeError):
    """No unit or batch finished for the stall timeout; rerunning the same command resumes."""


def _amounts(resources: dict) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in resources.items())


def free_resources(asks: dict) -> str:
    """`CPU 1.5 of 4, GPU 0 of 1, ...`: what the cluster has free of CPU, GPU and every resource in `asks`."""
    import ray  # not at import: the CLI imports `Stalled` without Ray

    try:
        free, total = ray.available_resources(), ray.cluster_resources()
    except Exception as err:  # the stop must not depend on the cluster answering
        return f"unknown ({type(err).__name__})"
    names = dict.fromkeys(["CPU", "GPU", *asks])
    return ", ".join(f"{name} {free.get(name, 0):g} of {total.get(name, 0):g}" for name in names)


class Watchdog:
    """Watches the step named by `watch` (none after `rest`); `beat` marks a finished unit or batch. Only on the
    main thread (the one Ctrl-C interrupts); `timeout` <= 0 turns it off. `asks`: one actor's resources."""

    def __init__(self, timeout: float, asks: dict):
        self.timeout, self.asks = timeout, asks
        self.step: str | None = None
        self.last = time.monotonic()
        self.fired: str | None = None
        self.restore: signal.Handlers | None = None  # SIGINT's handler before the watchdog's, when it had none
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="audit-watchdog", daemon=True)

    def watch(self, step: str) -> None:
        self.step, self.last = step, time.monotonic()

    def beat(self, step: str | None = None) -> None:
        self.step, self.last = step or self.step, time.monotonic()

    def rest(self) -> None:
        self.step = None

    def __enter__(self) -> "Watchdog":
        if self.timeout > 0 and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):  # e.g. a script's background job:
                self.restore = signal.signal(signal.SIGINT, signal.default_int_handler)  # the interrupt would be lost
            self.thread.start()
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        if self.restore is not None:
            signal.signal(signal.SIGINT, self.restore)
        if self.fired is not None and kind is KeyboardInterrupt:
            raise Stalled(self.fired) from None

    def _run(self) -> None:
        while not self.stop.wait(min(1.0, self.timeout / 4)):
            step, since = self.step, time.monotonic() - self.last
            if step is not None and since > self.timeout:
                self.fired = (f"stalled: no unit or batch of {step!r} finished for {since:.0f} s (--stall-timeout "
                              f"{self.timeout:g}); each scoring actor asks {_amounts(self.asks)}; the Ray cluster has "
                              f"free {free_resources(self.asks)}; finished work is kept: run the same command again "
                              f"to resume")
                log.info("%s", self.fired)
                _thread.interrupt_main()
                return

"""Each fit in a child process, so one algorithm's failure costs only that algorithm.

A native fault (OpenBLAS's SIGSEGV, an abort), the kernel's out-of-memory kill or a fit that
never ends used to take the whole training process with it, and every model of the run. The
fit runs in a forked child instead: copy-on-write shares the training matrices with it for
free, and the BLAS thread limits the parent set are inherited with its memory. The child writes
the model with the models' own persistence (``save_dir``) into a scratch directory; the parent
maps it back (``load_dir``), as serving does. ``os.fork`` rather than ``multiprocessing``:
Celery's prefork workers are daemonic and may not start ``multiprocessing`` children.

The child never touches the database: catalog features are read in the parent
(``prepare_fit``), every inherited socket and pipe is pointed at /dev/null before the fit (a
finalised connection would otherwise tell PostgreSQL that the parent's session is over), and
it leaves with ``os._exit``, running no exit handler of the parent's.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import pickle
import resource
import select
import shutil
import signal
import stat
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.training.dataset import TrainingData
from recommender.training.fitting import Configuration, fit_configuration, prepare_fit
from recommender.training.spark.trainer import fits_on_spark

# An exception's pickle the child sends back is cut past this (a pipe holds 64 KiB).
MAX_REPORT_BYTES = 60_000
PR_SET_PDEATHSIG = 1  # prctl(2): the child gets a signal when the parent dies


class FitCrashed(RuntimeError):
    """A fit's child process died by a signal, exited without a result or ran out of time."""


def fit_isolated(
    algorithm: str,
    configuration: Configuration,
    *,
    data: TrainingData,
    timeout: float | None = None,
) -> tuple[Recommender, IdIndex, dict]:
    """``fit_configuration`` in a child process (unless SHELFWISE_FIT_ISOLATION is off).

    A Python exception in the child is raised here as it was raised there; a child that dies,
    exits non-zero or outlives SHELFWISE_FIT_TIMEOUT_SECONDS (or ``timeout``, when shorter)
    raises ``FitCrashed`` naming why.
    """
    # A Spark fit runs in the cluster's JVMs, which a fork would not carry (py4j's gateway
    # belongs to this process): the training process only waits for it.
    if not settings.SHELFWISE_FIT_ISOLATION or fits_on_spark(algorithm):
        return fit_configuration(algorithm, configuration, data=data)
    prepared = prepare_fit(algorithm, configuration, data=data)
    with scratch_directory() as scratch:

        def fit_and_save() -> None:
            model, notes = prepared.fit()
            model.save_dir(scratch / "model")
            (scratch / "notes.json").write_text(json.dumps(notes))

        run_in_child(
            fit_and_save,
            timeout=min(settings.SHELFWISE_FIT_TIMEOUT_SECONDS, timeout or math.inf),
            label=f"{algorithm}'s fit",
        )
        # Mapped like serving maps artifacts: the pages stay readable after the directory goes.
        model = ALGORITHMS[algorithm].load_dir(scratch / "model", mmap_mode="r")
        notes = json.loads((scratch / "notes.json").read_text())
    return model, prepared.items, notes


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """A fresh directory under VAR_DIR/fit-scratch, removed afterwards; leftovers of a killed
    process (older than the task's hard time limit) are removed on the way in."""
    root = Path(settings.VAR_DIR) / "fit-scratch"
    root.mkdir(parents=True, exist_ok=True)
    horizon = time.time() - settings.TRAINING_HARD_TIME_LIMIT
    for old in root.iterdir():
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < horizon:
                shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"fit-{os.getpid()}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_in_child(work: Callable[[], None], *, timeout: float, label: str) -> None:
    """Run ``work`` in a forked child and wait for it at most ``timeout`` seconds.

    Re-raises the child's exception; raises ``FitCrashed`` when the child is killed by a
    signal, exits non-zero without reporting one or times out (it is then killed). Any
    exception in the parent while waiting (a soft time limit) kills the child first.
    """
    read_end, write_end = os.pipe()
    parent = os.getpid()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(work, report=write_end, parent=parent)
    os.close(write_end)
    try:
        report = _read_report(read_end, deadline=started + timeout)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(read_end)
    if report is None:
        _kill(pid)
        raise FitCrashed(f"{label} timed out after {timeout:g} s (its process was killed)")
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - started
    if os.WIFSIGNALED(status):
        raise FitCrashed(f"{label} was {_signal_cause(os.WTERMSIG(status))} after {seconds:.1f} s")
    code = os.WEXITSTATUS(status)
    if report:
        raise _unpickled(report, label=label)
    if code != 0:
        raise FitCrashed(f"{label} exited with status {code} after {seconds:.1f} s")


def _child(work: Callable[[], None], *, report: int, parent: int) -> None:
    code = 1
    try:
        _detach(keep=report, parent=parent)
        work()
        code = 0
    except BaseException as exc:  # reported to the parent, which raises it
        with contextlib.suppress(BaseException):
            os.write(report, _pickled(exc))
    finally:
        os._exit(code)


def _detach(*, keep: int, parent: int) -> None:
    """Cut the child off from everything it shares with the parent but memory."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    # No multi-GB core file for a crash the parent records anyway.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in _open_descriptors():
        if fd in (keep, devnull) or fd <= 2:
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.fstat(fd).st_mode) or stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.dup2(devnull, fd)


def _open_descriptors() -> list[int]:
    with contextlib.suppress(OSError):
        return [int(name) for name in os.listdir("/proc/self/fd")]
    return list(range(3, 256))


def _read_report(fd: int, *, deadline: float) -> bytes | None:
    """Everything the child wrote before closing its end (by exiting), or None at the
    deadline."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        # Short waits: a soft time limit's signal handler runs between them.
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 65_536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _signal_cause(number: int) -> str:
    name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
    if number == signal.SIGKILL:
        # Nobody here sends it before the timeout: the kernel's out-of-memory killer does.
        return "killed by SIGKILL (likely out of memory: the kernel's OOM killer)"
    return f"killed by {name} ({signal.strsignal(number)})"


def _pickled(exc: BaseException) -> bytes:
    trace = "".join(traceback.format_exception(exc))[-4_000:]
    try:
        exc.add_note(f"(raised in the fit's child process)\n{trace}")
        data = pickle.dumps(exc)
    except Exception:
        data = b""
    if not data or len(data) > MAX_REPORT_BYTES:
        data = pickle.dumps(FitCrashed(f"{type(exc).__name__}: {str(exc)[:2_000]}\n{trace}"))
    return data


def _unpickled(report: bytes, *, label: str) -> BaseException:
    try:
        exc = pickle.loads(report)
    except Exception as error:
        return FitCrashed(f"{label} failed; its error could not be read back: {error!r}")
    return exc if isinstance(exc, BaseException) else FitCrashed(f"{label} failed: {exc!r}")

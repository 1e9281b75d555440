"""A private redis-server for outage tests: stalled (SIGSTOP), stopped and restarted at will.

The shared Redis serves every engineer's tests, so outages are played on a server of the test's
own, on a free port picked at random (never 6379), without persistence unless a test asks for a
snapshot (``save``), which a restart then loads, as a production Redis would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.stalled = False
        self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        options = ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def save(self) -> None:
        """Write a snapshot the next ``start`` loads (a Redis restarted from its last save)."""
        redis.Redis(port=self.port).save()

    def stall(self) -> None:
        """Freeze the server: connections are accepted by the kernel but never answered."""
        os.kill(self.process.pid, signal.SIGSTOP)
        self.stalled = True

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)
        self.stalled = False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.stalled:
            self.resume()
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None

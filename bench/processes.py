"""Child processes of the bench (servers and load workers), and what /proc says of them.

Children get their own session, so a Ctrl-C reaches the bench alone and it stops them
in order; they also stop by themselves when the bench's pipe to them closes.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ChildError(RuntimeError):
    """A child process of the bench failed to start or answer."""


class Children:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def spawn(self, module: str, *args: str, stderr: Path, env: dict | None = None) -> subprocess.Popen:
        # The server's settings come from its job alone: a LOWBAND_* or TWILIO_* variable
        # left in the shell (LOWBAND_DEV, a lowered LOWBAND_PIN_WORK) must not change them.
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LOWBAND_", "TWILIO_"))}, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        with stderr.open("ab") as err:
            child = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=env,
                start_new_session=True,
            )
        self.running.append(child)
        return child

    def stop(self, child: subprocess.Popen, grace: float = 5.0) -> None:
        if child.poll() is None:
            with contextlib.suppress(OSError):
                if child.stdin:
                    child.stdin.close()  # the polite way: the child exits at EOF
            try:
                child.wait(grace)
            except subprocess.TimeoutExpired:
                child.terminate()
                try:
                    child.wait(grace)
                except subprocess.TimeoutExpired:
                    # The whole session: a gunicorn master's workers too.
                    with contextlib.suppress(OSError):
                        os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
        for stream in (child.stdin, child.stdout):
            if stream and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()
        if child in self.running:
            self.running.remove(child)

    def stop_all(self) -> None:
        for child in list(self.running):
            self.stop(child, grace=2.0)


def send(child: subprocess.Popen, line: str) -> None:
    child.stdin.write(line + "\n")
    child.stdin.flush()


def read_line(child: subprocess.Popen, timeout: float, what: str, log: Path | None = None) -> str:
    """The child's next stdout line, or ChildError if it dies or says nothing in time."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ChildError(f"{what} said nothing in {timeout:.0f} s{_tail(log)}")
        ready, _, _ = select.select([child.stdout], [], [], min(left, 0.5))
        if ready:
            line = child.stdout.readline()
            if line:
                return line.strip()
            raise ChildError(f"{what} exited (code {child.wait()}){_tail(log)}")


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return (":\n  " + "\n  ".join(text)) if text else ""


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def peak_rss_bytes(pid: int) -> int | None:
    """The process's peak resident set size (VmHWM)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """The process's children, their children, and so on (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU used so far by the process and its live descendants (a gunicorn master and
    its workers); None where /proc cannot say."""
    values = [cpu_seconds(p) for p in [pid, *descendants(pid)]]
    return sum(v for v in values if v is not None) if values[0] is not None else None


def tree_peak_rss_bytes(pid: int) -> int | None:
    values = [peak_rss_bytes(p) for p in [pid, *descendants(pid)]]
    return sum(v for v in values if v is not None) if values[0] is not None else None


def load_average() -> float | None:
    try:
        with open("/proc/loadavg") as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None

"""Helpers for the distributed-executor tests: a real Dask cluster of separate processes on
127.0.0.1 (``dask scheduler`` + ``dask worker`` CLIs), helpers to find and kill worker
processes, and checks that a scheduler is gone.

Every process is started in its own session (process group), so teardown can kill the nanny
*and* the worker process it spawned; nothing is left running after the fixture ends.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: the venv's ``dask`` CLI (next to the interpreter running the tests)
DASK_CLI = str(Path(sys.executable).with_name("dask"))
#: LiberTEM's resources for a CPU worker
CPU_RESOURCES = "CPU=1,compute=1,ndarray=1"
TESTS_DIR = str(Path(__file__).resolve().parent)
STARTUP_TIMEOUT = 60.0


@dataclass
class ExternalCluster:
    """A running scheduler and its workers; ``address`` is the scheduler's ``tcp://`` URI."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    log_dir: Path | None = None

    def procs(self) -> list[subprocess.Popen]:
        return [*self.workers, self.scheduler]


def _env() -> dict[str, str]:
    """Worker environment: the tests directory importable (UDF and exception classes defined in
    test modules are pickled by reference), one thread per numeric library."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH")) if p)
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        FERROTEM_NUM_THREADS="1",
        FERROTEM_DEVICE_CLASS="cpu",
    )
    env.pop("DASK_DISTRIBUTED__SCHEDULER_ADDRESS", None)
    return env


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the test process dies, even if it dies without
    running the fixture teardown (Linux only; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


#: every process started here, for the atexit safety net
_STARTED: list[subprocess.Popen] = []


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            args,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
            start_new_session=True,  # own process group: killpg reaches nanny + worker
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    _STARTED.append(proc)
    return proc


@atexit.register
def _stop_leftovers() -> None:
    stop_processes([p for p in _STARTED if p.poll() is None], grace=2.0)


def _logs(log_dir: Path) -> str:
    out = []
    for p in sorted(log_dir.glob("*.log")):
        out.append(f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}")
    return "\n".join(out)


def stop_processes(procs: list[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM every process group, then SIGKILL what is still there after ``grace`` s."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    for p in procs:
        # the group may outlive its leader (a worker spawned by a nanny)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)


def wait_for_workers(address: str, n: int, timeout: float = STARTUP_TIMEOUT) -> None:
    """Blocks until ``n`` workers are registered with the scheduler at ``address``."""
    from distributed import Client

    with Client(address, timeout=timeout, set_as_default=False) as client:
        client.wait_for_workers(n, timeout=timeout)


@contextlib.contextmanager
def external_cluster(
    tmp_dir: Path,
    n_workers: int = 2,
    resources: str | None = CPU_RESOURCES,
    nanny: bool = True,
) -> Iterator[ExternalCluster]:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes, all on 127.0.0.1, each
    worker single-threaded. Yields once every worker is registered; kills everything after."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    sfile = tmp_dir / "s.json"
    scheduler = _spawn(
        [
            DASK_CLI,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            "127.0.0.1:0",
            "--scheduler-file",
            str(sfile),
        ],
        tmp_dir / "scheduler.log",
    )
    cluster = ExternalCluster(address="", scheduler=scheduler, log_dir=tmp_dir)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited early:\n{_logs(tmp_dir)}")
            if sfile.exists():
                with contextlib.suppress(ValueError, KeyError):
                    cluster.address = json.loads(sfile.read_text())["address"]
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start:\n{_logs(tmp_dir)}")
            time.sleep(0.1)
        for i in range(n_workers):
            args = [
                DASK_CLI,
                "worker",
                cluster.address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--name",
                f"ext-worker-{i}",
                "--dashboard-address",
                "127.0.0.1:0",
                # an orphaned worker (scheduler gone) exits by itself
                "--death-timeout",
                "30",
                "--local-directory",
                str(tmp_dir / f"w{i}"),
            ]
            if resources:
                args += ["--resources", resources]
            if not nanny:
                args += ["--no-nanny"]
            cluster.workers.append(_spawn(args, tmp_dir / f"worker-{i}.log"))
        try:
            wait_for_workers(cluster.address, n_workers)
        except Exception as e:
            raise RuntimeError(f"workers did not register ({e}):\n{_logs(tmp_dir)}") from e
        yield cluster
    finally:
        stop_processes(cluster.procs())


def worker_pids(client) -> dict[str, int]:
    """``{worker address: pid of the process running the tasks}``."""
    return client.run(os.getpid)


def port_accepts(address: str, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections at ``tcp://host:port``."""
    host, port = address.split("://")[-1].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1) -> bool:
    """Polls ``predicate`` until it is true or ``timeout`` s have passed; returns its last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return bool(value)
        time.sleep(interval)


def scheduler_task_keys(client, prefix: str = "ferrotem-task-") -> list[str]:
    """Keys of the scheduler's tasks whose name starts with ``prefix``."""

    def keys(dask_scheduler, prefix=prefix):
        return [str(k) for k in dask_scheduler.tasks if str(k).startswith(prefix)]

    return client.run_on_scheduler(keys)

"""CPU accounting for the benchmarks that run the app under gunicorn."""

from __future__ import annotations

import subprocess

import psutil
import psycopg


class CpuMeter:
    """CPU seconds spent by the gunicorn processes and the Postgres backends of the bench database:
    per request, the cost that decides throughput on a busy machine, whatever else runs on it."""

    def __init__(self, server: subprocess.Popen, admin_url: str, database: str):
        self.server = psutil.Process(server.pid)
        self.admin_url = admin_url
        self.database = database

    def snapshot(self) -> dict[int, tuple[str, float]]:
        app = [self.server, *self.server.children(recursive=True)]
        app_pids = {process.pid for process in app}
        times = {}
        for process in app + self._backends():
            try:
                cpu = process.cpu_times()
                times[process.pid] = ("app" if process.pid in app_pids else "postgres", cpu.user + cpu.system)
            except psutil.Error:
                pass
        return times

    def _backends(self) -> list[psutil.Process]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            pids = [r[0] for r in conn.execute("select pid from pg_stat_activity where datname = %s", (self.database,))]
        found = []
        for pid in pids:
            try:
                found.append(psutil.Process(pid))
            except psutil.Error:
                pass
        return found

    @staticmethod
    def spent(before: dict, after: dict, kind: str | None = None) -> float:
        return sum(cpu - before.get(pid, (k, 0.0))[1] for pid, (k, cpu) in after.items() if kind is None or k == kind)

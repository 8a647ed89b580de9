"""Names of background workers, as leases and claims record them."""

from __future__ import annotations

import os
import socket
import uuid


def worker_name() -> str:
    """Host, process and a random tag: unique across machines, processes and engines of one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

"""Servers started as subprocesses never outlive the process that started them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time


def test_a_server_stops_when_its_parent_is_killed(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from loadwise.app.serve_gateway import server_process
        with server_process("serve", "emulate", "--port", "0", "--models", "3B") as (proc, ready):
            print(proc.pid, flush=True)
            os._exit(0)  # killed: the block is never left, nothing is cleaned up
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env,
                         timeout=60)
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, 9)
    raise AssertionError("the orphaned server kept running")

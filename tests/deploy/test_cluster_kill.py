"""``bin/cluster kill`` returns only once the part's port is free: a Rasa replica's model process
and its Sanic workers live in process groups of their own and die a moment after bot.serve's
supervisor, holding the listening socket until then. A start right after a kill found the port
"taken by a process the cluster did not start" (a CI run of 6 December 2026)."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

from cluster import control
from cluster.settings import ClusterSettings

# The leader listens, then forks a child into a process group of its own that keeps the socket
# and outlives the leader by 1.5 s (as a worker does until PR_SET_PDEATHSIG reaches it).
REPLICA = textwrap.dedent("""
    import os, socket, sys, time
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[1])))
    listener.listen(16)
    leader = os.getpid()
    if os.fork() == 0:
        os.setpgid(0, 0)
        print("ready", flush=True)  # out of the leader's group: a kill of the group spares it
        while os.getppid() == leader:
            time.sleep(0.02)
        time.sleep(1.5)
        os._exit(0)
    time.sleep(600)
""")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_kill_returns_once_the_replicas_port_is_free(tmp_path):
    port, other = _free_port(), _free_port()
    settings = ClusterSettings.from_env({"TUIBAO_CLUSTER_STATE_DIR": str(tmp_path),
                                         "TUIBAO_CLUSTER_RASA_PORTS": f"{port},{other}"})
    replica = subprocess.Popen([sys.executable, "-c", REPLICA, str(port)], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        assert replica.stdout.readline().strip() == "ready"
        (tmp_path / "pids").mkdir(parents=True, exist_ok=True)
        (tmp_path / "pids" / "rasa-1.pid").write_text(str(replica.pid))
        began = time.monotonic()
        control.kill(settings, "rasa-1")
        took = time.monotonic() - began
        assert not control._port_taken(port), "the kill returned while the port took connections"
        with socket.socket() as successor:  # what the next start binds
            successor.bind(("127.0.0.1", port))
            successor.listen(1)
        assert took >= 1.0  # it waited for the child, not only for the leader
    finally:
        replica.kill()
        replica.wait(timeout=10)

"""A model promote that hands the listening socket to a new process (issue 22, "swap without a
pause").

Rasa 3.6 loads a new model (``PUT /model``) in the process that serves: even off the event loop
(``bot.swap``) the load shares that process's TensorFlow with the users' turns, and turns
stalled for up to 2 s while the new graph was built (docs/insurers.md). So ``python -m
bot.serve run ...`` is a small supervisor, not Rasa:

1. it binds the server's address once (``--interface``/``--port``), without listening, and
   starts Rasa as a child process that inherits the socket (``TUIBAO_HANDOVER_LISTEN_FD``);
   Rasa listens on it once its model is loaded, so a client sees exactly what it saw before
   (connection refused until the model is up);
2. ``PUT /model`` reaches the running child, which asks the supervisor over its control socket
   (``TUIBAO_HANDOVER_CONTROL_FD``) for a new child on the new model. The new child loads and
   warms the model up (``bot.swap.warm_up``) in a process of its own, then accepts on the same
   socket beside the old one;
3. once the new child serves (as many Sanic workers as the old one had), the supervisor has
   every process of the old one stop taking connections (SIGUSR1, to the pids they reported)
   and waits until each confirms; then the old one answers ``204`` and stops as Sanic stops:
   it finishes every request in flight (``GRACEFUL_SHUTDOWN_TIMEOUT``) and exits. Connections
   waiting in the shared accept queue are taken by the new child: nothing is refused or lost,
   and no turn waits for a load;
4. a model that fails to load leaves the old child serving; ``PUT /model`` answers 500 with the
   reason, as Rasa does.

With ``SANIC_WORKERS`` > 1 the whole group of workers is replaced, so every worker runs the new
model (Rasa's own ``PUT /model`` reaches one worker only). ``TUIBAO_HANDOVER=0`` runs Rasa in
the supervisor's place, as before (the in-process, threaded swap of ``bot.swap``).

The supervisor imports nothing of Rasa; it forwards SIGTERM/SIGINT to its children, and exits
with the serving child's code if that child dies (so process managers see the crash). Children
die with it (``PR_SET_PDEATHSIG``).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

log = logging.getLogger(__name__)

LISTEN_ENV = "TUIBAO_HANDOVER_LISTEN_FD"
CONTROL_ENV = "TUIBAO_HANDOVER_CONTROL_FD"
SUPERVISOR_ENV = "TUIBAO_HANDOVER_SUPERVISOR_PID"
REPLACES_ENV = "TUIBAO_HANDOVER_REPLACES"  # set for a child that is to take over from another
SWITCH_ENV = "TUIBAO_HANDOVER"
LOAD_TIMEOUT_ENV = "TUIBAO_HANDOVER_LOAD_TIMEOUT_S"
RETIRE_CONFIRM_S = 10.0  # for every old worker to say it no longer takes connections
RETIRE_TIMEOUT_S = 90.0  # Sanic's graceful shutdown (15 s) and then some; then SIGKILL


def wanted(argv: Sequence[str]) -> bool:
    """The supervisor runs for ``run`` unless switched off, and never inside one of its children."""
    return (list(argv[:1]) == ["run"] and os.environ.get(SWITCH_ENV, "1") != "0"
            and LISTEN_ENV not in os.environ)


def _option(argv: Sequence[str], flags: Sequence[str], default: str) -> str:
    for flag in flags:
        if flag in argv and argv.index(flag) + 1 < len(argv):
            return argv[argv.index(flag) + 1]
        for item in argv:
            if item.startswith(flag + "="):
                return item.split("=", 1)[1]
    return default


def with_model(argv: Sequence[str], model: str) -> List[str]:
    """``argv`` with its ``--model``/``-m`` replaced by (or extended with) ``model``."""
    out: List[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
            continue
        if item in ("--model", "-m"):
            skip = True
            continue
        if item.startswith("--model="):
            continue
        out.append(item)
    return out + ["--model", model]


def bind(interface: str, port: int) -> socket.socket:
    """The server's address, bound but not listening (Rasa's child listens once it can answer)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        interface, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


class Child:
    """One generation of Rasa: the process and the supervisor's end of its control socket."""

    def __init__(self, command: List[str], argv: List[str], listen: socket.socket,
                 generation: int) -> None:
        ours, theirs = socket.socketpair()
        theirs.set_inheritable(True)
        env = dict(os.environ, **{LISTEN_ENV: str(listen.fileno()),
                                  CONTROL_ENV: str(theirs.fileno()),
                                  SUPERVISOR_ENV: str(os.getpid())})
        if generation > 1:
            env[REPLACES_ENV] = "1"
        else:
            env.pop(REPLACES_ENV, None)
        self.generation = generation
        self.model = _option(argv, ("--model", "-m"), "models")
        self.proc = subprocess.Popen([*command, *argv], env=env,
                                     pass_fds=(listen.fileno(), theirs.fileno()))
        theirs.close()
        self.control = ours
        self.serving = threading.Event()
        self.workers: set = set()   # pids of its processes that answer (one, or each Sanic worker)
        self.retired: set = set()   # pids of those that stopped taking connections
        self.retiring = False
        self.failure: Optional[str] = None
        self._send_lock = threading.Lock()

    def send(self, message: Dict[str, Any]) -> None:
        with self._send_lock:
            try:
                self.control.sendall(json.dumps(message).encode() + b"\n")
            except OSError:  # it is gone; its exit is handled where it is waited for
                pass

    def messages(self):
        buffer = b""
        while True:
            try:
                chunk = self.control.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


class Supervisor:
    """``command`` + ``argv`` starts a child (Rasa through ``bot.serve``; a test's stand-in)."""

    def __init__(self, argv: List[str], command: Optional[List[str]] = None) -> None:
        self.argv = argv
        self.command = command or [sys.executable, "-m", "bot.serve"]
        self.interface = _option(argv, ("--interface", "-i"), "0.0.0.0")
        self.port = int(_option(argv, ("--port", "-p"), "5005"))
        self.listen = bind(self.interface, self.port)
        self.lock = threading.Lock()
        self.current: Optional[Child] = None
        self.children: List[Child] = []
        self.loading = False
        self.generation = 0
        self.stopping = False
        self.changed = threading.Condition(self.lock)
        # Children are started by the main thread only: PR_SET_PDEATHSIG fires when the *thread*
        # that started a child ends, and the handover threads end
        self.to_spawn: "queue.Queue[Tuple[List[str], queue.Queue[Child]]]" = queue.Queue()

    # -- children -------------------------------------------------------------------------
    def spawn_from_main(self, argv: List[str]) -> Child:
        done: "queue.Queue[Child]" = queue.Queue()
        self.to_spawn.put((argv, done))
        return done.get()

    def spawn(self, argv: List[str]) -> Child:
        self.generation += 1
        child = Child(self.command, argv, self.listen, self.generation)
        with self.lock:
            self.children.append(child)
        threading.Thread(target=self._read, args=(child,), daemon=True,
                         name=f"handover-read-{child.generation}").start()
        threading.Thread(target=self._reap, args=(child,), daemon=True,
                         name=f"handover-reap-{child.generation}").start()
        return child

    def _read(self, child: Child) -> None:
        for message in child.messages():
            if message.get("failed"):
                child.failure = str(message["failed"])
            elif message.get("serving"):
                with self.lock:
                    child.workers.add(int(message.get("pid") or child.proc.pid))
                    child.serving.set()
                    self.changed.notify_all()
            elif message.get("retired"):
                with self.lock:
                    child.retired.add(int(message["retired"]))
                    self.changed.notify_all()
            elif "load" in message:
                threading.Thread(target=self.hand_over, args=(child, str(message["load"])),
                                 daemon=True, name="handover-load").start()

    def _reap(self, child: Child) -> None:
        code = child.proc.wait()
        _mark_dead(child.proc.pid)
        with self.lock:
            self.children.remove(child)
            self.changed.notify_all()
        if child is self.current and not child.retiring and not self.stopping:
            print(f"bot.serve: the Rasa server (pid {child.proc.pid}) {_ended(code)}",
                  file=sys.stderr, flush=True)

    def hand_over(self, old: Child, model: str) -> None:
        """A new child on ``model``; once it serves, the old one is told to stop."""
        with self.lock:
            busy = self.loading or self.stopping or old is not self.current
            if not busy:
                self.loading = True
        if busy:
            old.send({"ok": False, "error": "another model is being loaded (or the server is "
                                            "stopping); try again once it is done"})
            return
        started = time.monotonic()
        try:
            new = self.spawn_from_main(with_model(self.argv, model))
            timeout = float(os.environ.get(LOAD_TIMEOUT_ENV, "600"))
            with self.lock:
                while not new.serving.is_set() and new.proc.poll() is None and not self.stopping \
                        and time.monotonic() - started < timeout:
                    self.changed.wait(0.5)
            if not new.serving.is_set():
                ended = new.proc.poll()
                reason = new.failure or (
                    f"the server on the new model {_ended(ended)} before it could answer (its "
                    "log says why)" if ended is not None
                    else f"the new model was not serving after {timeout:.0f} s")
                _stop(new.proc, grace_s=5)
                old.send({"ok": False, "error": reason})
                return
            self._wait_for_every_worker(new, old, loaded_s=time.monotonic() - started)
            with self.lock:
                old.retiring = True
                self.current = new
            print(f"bot.serve: {os.path.basename(model)} serves (pid {new.proc.pid}, "
                  f"{len(new.workers)} worker(s), loaded in {time.monotonic() - started:.1f} s); "
                  f"pid {old.proc.pid} finishes its requests and stops", file=sys.stderr, flush=True)
            self._retire_workers(old)
            old.send({"ok": True})
            threading.Thread(target=_stop_when_done, args=(old.proc,), daemon=True).start()
        finally:
            with self.lock:
                self.loading = False

    def _wait_for_every_worker(self, new: Child, old: Child, loaded_s: float) -> None:
        """Each Sanic worker loads the model itself: the old group goes on until the new one has
        as many workers answering (or, if one of them lags, for as long again as the first took)."""
        deadline = time.monotonic() + max(30.0, loaded_s)
        with self.lock:
            while len(new.workers) < max(1, len(old.workers)) and new.proc.poll() is None \
                    and not self.stopping and time.monotonic() < deadline:
                self.changed.wait(0.2)

    def _retire_workers(self, old: Child) -> None:
        """Every process of the old generation that takes connections stops taking them
        (SIGUSR1; ``_retire`` in each), before the promote is answered: a request sent after the
        answer reaches the new model. The supervisor signals them itself, from the pids they gave
        when they started answering, and waits for each to confirm."""
        with self.lock:
            workers = set(old.workers)
        for pid in workers:
            if _belongs_to(pid, old.proc.pid):
                try:
                    os.kill(pid, signal.SIGUSR1)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + RETIRE_CONFIRM_S
        with self.lock:
            while any(_belongs_to(pid, old.proc.pid) for pid in workers - old.retired) \
                    and time.monotonic() < deadline:
                self.changed.wait(0.1)
            late = sorted(pid for pid in workers - old.retired if _belongs_to(pid, old.proc.pid))
        if late:
            print(f"bot.serve: pid(s) {late} did not confirm within {RETIRE_CONFIRM_S:.0f} s that "
                  "they stopped taking connections; they are stopped with their group",
                  file=sys.stderr, flush=True)

    # -- the supervisor's life --------------------------------------------------------------
    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.current = self.spawn(self.argv)
        while True:
            with self.lock:
                current = self.current
            code = current.proc.poll() if current else 0
            if self.stopping or (code is not None and current is self.current
                                 and not current.retiring):
                break
            try:
                argv, done = self.to_spawn.get(timeout=0.2)
            except queue.Empty:
                continue
            done.put(self.spawn(argv))
        signalled = self.stopping  # the children were sent the signal already: once is enough
        self.stopping = True
        for child in list(self.children):
            _stop(child.proc, grace_s=RETIRE_TIMEOUT_S, already_signalled=signalled)
        self.listen.close()
        code = current.proc.returncode if current and current.proc.returncode is not None else 0
        return code if code >= 0 else 128 - code

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True
        for child in list(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM if signum != signal.SIGINT else signum)


def _belongs_to(pid: int, group: int) -> bool:
    """``pid`` is alive (not a zombie) and is ``group`` itself or one of its (Sanic worker)
    children, from ``/proc/PID/stat``: its state, then its parent's pid."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state, parent = handle.read().rsplit(")", 1)[1].split()[:2]
    except (OSError, ValueError):
        return False
    return state not in ("Z", "X") and group in (pid, int(parent))


def _ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _stop_when_done(proc: "subprocess.Popen[bytes]") -> None:
    """The old child stops itself once it has answered; it is killed if it hangs."""
    try:
        proc.wait(timeout=RETIRE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop(proc, grace_s=5)


def _stop(proc: "subprocess.Popen[bytes]", grace_s: float, already_signalled: bool = False) -> None:
    if proc.poll() is not None:
        return
    if not already_signalled:
        proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _mark_dead(pid: int) -> None:
    """Gauges of a child that is gone no longer count (Prometheus multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        try:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)
        except Exception:  # metrics are not worth a crash of the supervisor
            pass


def supervise(argv: List[str]) -> int:
    from observability import metrics, rasa_server

    # the metrics directory is emptied once, here; every generation adds to it
    metrics.prepare_multiprocess("rasa", rasa_server.port_of(argv))
    return Supervisor(argv).run()


# -- in the child ----------------------------------------------------------------------------
_app: Any = None
_write_lock = threading.Lock()  # one message at a time on the control socket
_ask_lock = threading.Lock()    # one question (and its answer) at a time
_servers: List[Any] = []          # the listening servers Sanic created in this process
_connections: Optional[set] = None  # Sanic's open connections in this process
_retiring = False


def in_child() -> bool:
    return LISTEN_ENV in os.environ and CONTROL_ENV in os.environ


def serving() -> bool:
    """This process is a supervised Rasa server that already answers."""
    return in_child() and _app is not None and getattr(_app.ctx, "handover_serving", False)


def install_child() -> None:
    """In a supervised child: serve on the inherited socket, die with the supervisor, tell it
    when Rasa answers, and keep what is needed to stop gracefully (the listening server, the
    connections, a response middleware that ends keep-alive while retiring)."""
    if not in_child():
        return
    _die_with_supervisor()
    from sanic import Sanic
    from sanic.server import runners

    original = Sanic.run
    if getattr(original, "_tuibao_handover", False):
        return

    def run(self, *args: Any, **kwargs: Any) -> Any:
        global _app
        _app = self
        kwargs.update(sock=socket.socket(fileno=int(os.environ[LISTEN_ENV])), host=None,
                      port=None)
        self.register_listener(_refuse_without_model, "before_server_start")  # after Rasa's load
        self.register_listener(_tell_serving, "after_server_start")
        self.register_middleware(_close_when_retiring, "response")
        return original(self, *args, **kwargs)

    original_serve = runners.serve

    def serve(*args: Any, **kwargs: Any) -> Any:
        # Sanic keeps its listening server and its connections to itself: keep a hold of both
        global _connections
        import asyncio

        if kwargs.get("run_multiple"):  # a forked worker: it dies with the group's main process
            _die_with_parent(os.getppid())

        if not kwargs.get("run_async"):
            # the loop serve() would run on (it makes one itself after a fork), of a subclass
            # that keeps the listening server it creates
            given = kwargs.get("loop")
            kind = type(given) if given is not None else type(asyncio.new_event_loop())
            loop = _keeping_loop_class(kind)()
            asyncio.set_event_loop(loop)
            kwargs["loop"] = loop
        if kwargs.get("connections") is None:
            kwargs["connections"] = set()
        _connections = kwargs["connections"]
        return original_serve(*args, **kwargs)

    run._tuibao_handover = True  # type: ignore[attr-defined]
    Sanic.run = run  # type: ignore[assignment]
    runners.serve = serve


def _keeping_loop_class(base: type) -> type:
    """``base`` (uvloop's loop or asyncio's) whose ``create_server`` keeps the server it makes,
    so that a retiring process can stop accepting without stopping."""

    class KeepingLoop(base):  # type: ignore[valid-type, misc]
        async def create_server(self, *args: Any, **kwargs: Any) -> Any:
            server = await super().create_server(*args, **kwargs)
            _servers.append(server)
            return server

    return KeepingLoop


def _die_with_supervisor() -> None:
    _die_with_parent(int(os.environ.get(SUPERVISOR_ENV) or os.getppid()))


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent process ends (``PR_SET_PDEATHSIG``; not inherited by forks)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))
    except OSError:
        return
    if os.getppid() != parent:  # it died before prctl
        os._exit(1)


def _control() -> socket.socket:
    return socket.socket(fileno=os.dup(int(os.environ[CONTROL_ENV])))


def _send(message: Dict[str, Any]) -> None:
    with _write_lock:
        sock = _control()
        try:
            sock.sendall(json.dumps(message).encode() + b"\n")
        finally:
            sock.close()


async def _refuse_without_model(app: Any, _loop: Any) -> None:
    """Rasa starts without a model when the archive is not one; a server meant to take over
    must not start listening then: the running one goes on, and PUT /model says why."""
    agent = getattr(app.ctx, "agent", None)
    if os.environ.get(REPLACES_ENV) and (agent is None or not agent.is_ready()):
        _send({"failed": "the new model could not be loaded (the Rasa log says why); the "
                         "running model goes on answering"})
        raise RuntimeError("bot.serve: the new model could not be loaded; not taking over")


async def _tell_serving(app: Any, loop: Any) -> None:
    app.ctx.handover_serving = True
    loop.add_signal_handler(signal.SIGUSR1, _retire)  # the supervisor's, at a promote
    _send({"serving": True, "pid": os.getpid()})


async def _close_when_retiring(request: Any, response: Any) -> None:
    """While retiring, every answer closes its connection (``Connection: close``): the client's
    next request opens a new one, which the new process takes."""
    if _retiring:
        stream = getattr(request, "stream", None)
        if stream is not None and hasattr(stream, "keep_alive"):
            stream.keep_alive = False


def _ask(model: str) -> Dict[str, Any]:
    """Asked off the loop: while the answer is awaited, the loop goes on serving, and the
    supervisor's SIGUSR1 (``_retire``, which reports over the same socket) can be handled."""
    with _ask_lock:
        sock = _control()
        try:
            _send({"load": model})
            buffer = b""
            while b"\n" not in buffer:
                chunk = sock.recv(4096)
                if not chunk:
                    return {"ok": False, "error": "the supervisor is gone"}
                buffer += chunk
            return json.loads(buffer.split(b"\n", 1)[0])
        finally:
            sock.close()


async def hand_over(model_path: str) -> Any:
    """``PUT /model`` in a supervised child: a new process loads ``model_path``; once it serves,
    this one (every worker of it) retires after answering. Returns the running agent for Rasa's
    handler; raises when the new model could not be served (this process goes on serving)."""
    import asyncio

    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, _ask, os.path.abspath(model_path))
    if not answer.get("ok"):
        raise RuntimeError(answer.get("error") or "the new model could not be served")
    _retire()  # the supervisor had every worker retire already (SIGUSR1); this one surely has
    return _app.ctx.agent


def _retire() -> None:
    """Stop taking connections now; finish every request this process holds, each answer
    closing its connection; stop once none is left (at most Sanic's keep-alive timeout plus a
    second, after which an idle keep-alive connection would have been closed anyway)."""
    global _retiring
    import asyncio

    if _retiring:
        return
    _retiring = True
    for server in _servers:
        server.close()
    _send({"retired": os.getpid()})
    print(f"bot.serve: pid {os.getpid()} takes no new connection ({len(_servers)} listener(s) "
          f"closed) and finishes its {len(_connections or ())}", file=sys.stderr, flush=True)
    loop = asyncio.get_event_loop()
    drain_s = float(getattr(_app.config, "KEEP_ALIVE_TIMEOUT", 5)) + 1.0
    deadline = loop.time() + drain_s

    def stop_when_drained() -> None:
        if _connections and loop.time() < deadline:
            loop.call_later(0.05, stop_when_drained)
            return
        _app.stop()  # Sanic's own stop: what is left is idle or finishes within its grace

    stop_when_drained()

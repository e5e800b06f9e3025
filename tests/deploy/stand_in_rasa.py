"""A stand-in for Rasa under bot.serve's supervisor (tests/deploy/test_handover.py): the same
inherited socket and control protocol (bot.handover's child side), a few lines of HTTP.

    GET /status  -> {"model_file": ..., "pid": ...}
    PUT /model   -> asks the supervisor for a new child on the model; 204 then stops, or 500
A model named ``*broken*`` exits with code 3 before serving, as Rasa does on a bad archive."""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from bot import handover


def main() -> None:
    handover._die_with_supervisor()
    model = sys.argv[sys.argv.index("--model") + 1]
    if "broken" in model:
        sys.exit(3)
    listening = socket.socket(fileno=int(os.environ[handover.LISTEN_ENV]))
    listening.listen(64)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: object = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(200, {"model_file": model, "pid": os.getpid()})

        def do_PUT(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = handover._ask(body["model_file"])
            if not answer.get("ok"):
                self._answer(500, {"message": answer.get("error")})
                return
            threading.Thread(target=server.shutdown).start()  # stop accepting, then exit
            self._answer(204)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listening
    handover._send({"serving": True, "pid": os.getpid()})
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()

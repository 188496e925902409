"""A small stand-in for upstream's agnhost test image (registry.k8s.io/e2e-test-images/agnhost).

Run as a script (stdlib only; the image catalog runs it with the host's python). Subcommands:

- ``pause``: wait for SIGTERM/SIGINT, exit 0.
- ``serve-hostname [--port=9376] [--http=true]``: answer every HTTP request with the hostname.
- ``netexec [--http-port=8080]``: HTTP endpoints ``/`` (``NOW: <time>``), ``/hostname``, ``/echo?msg=``,
  ``/clientip``, ``/header?key=``, ``/healthz``, ``/shell?cmd=`` (JSON ``{"output": ...}``) and
  ``/exit?code=``.

The hostname is ``$HOSTNAME`` (the pod's name, as the kubelet sets it) else the host's. Servers bind every
address, as upstream's; ``AGNHOST_BIND_ADDRESS`` (not upstream) narrows that, e.g. to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def hostname() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname()


def flags(argv: list[str]) -> dict[str, str]:
    """``--name=value`` / ``--name value`` / ``--name`` (true) -> {name: value}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") or arg.startswith("-"):
            name, eq, value = arg.lstrip("-").partition("=")
            if not eq:
                nxt = argv[i + 1] if i + 1 < len(argv) else ""
                if nxt and not nxt.startswith("-"):
                    value = nxt
                    i += 1
                else:
                    value = "true"
            out[name] = value
        i += 1
    return out


def wait_for_signal() -> int:
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(3600):
        pass
    return 0


class Handler(BaseHTTPRequestHandler):
    server_version = "agnhost"
    mode = "netexec"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def reply(self, body: str, code: int = 200, ctype: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.mode == "serve-hostname":
            self.reply(hostname())
            return
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path.rstrip("/") or "/"
        if path == "/":
            self.reply(f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S')}")
        elif path == "/hostname":
            self.reply(hostname())
        elif path == "/echo":
            self.reply(q.get("msg", ""))
        elif path == "/clientip":
            self.reply(f"{self.client_address[0]}:{self.client_address[1]}")
        elif path == "/header":
            self.reply(self.headers.get(q.get("key", ""), ""))
        elif path == "/healthz":
            self.reply("")
        elif path == "/shell":
            self._shell(q.get("cmd", ""))
        elif path == "/exit":
            code = int(q.get("code", "0") or 0)
            self.reply("")
            threading.Thread(target=_exit_soon, args=(code,)).start()
        else:
            self.reply("404 page not found\n", 404)

    do_POST = do_GET
    do_HEAD = do_GET

    def _shell(self, cmd: str) -> None:
        try:
            proc = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            self.reply(json.dumps({"error": "timed out"}), 500, "application/json")
            return
        body: dict[str, str] = {"output": proc.stdout.decode(errors="replace")}
        if proc.returncode != 0:
            body["error"] = f"exit status {proc.returncode}"
        self.reply(json.dumps(body), 200 if proc.returncode == 0 else 417, "application/json")


class Server(ThreadingHTTPServer):
    def server_bind(self) -> None:
        """As the base class, without its ``socket.getfqdn()``: no DNS lookup at bind (it would hang until
        it times out where no nameserver answers)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host) or hostname()
        self.server_port = int(port)


def _exit_soon(code: int) -> None:
    time.sleep(0.1)  # let the reply go out
    os._exit(code)


def serve(port: int, mode: str) -> int:
    handler = type("H", (Handler,), {"mode": mode})
    server = Server((os.environ.get("AGNHOST_BIND_ADDRESS", ""), port), handler)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"Serving on port {port}.", flush=True)
    server.serve_forever()
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: agnhost pause | serve-hostname [--port=9376] | netexec [--http-port=8080]", file=sys.stderr)
        return 2
    cmd, opts = argv[0], flags(argv[1:])
    if cmd == "pause":
        print("Paused", flush=True)
        return wait_for_signal()
    if cmd == "serve-hostname":
        if opts.get("http", "true") != "true":
            return wait_for_signal()
        return serve(int(opts.get("port", "9376")), "serve-hostname")
    if cmd == "netexec":
        return serve(int(opts.get("http-port", "8080")), "netexec")
    print(f'Error: unknown command "{cmd}" for "agnhost"', file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

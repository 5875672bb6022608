#!/usr/bin/python3
"""A unix-socket proxy in front of a real Docker Engine, for the docker scaler's race test.

  tests/docker_proxy.py FOLDER --engine SOCKET [--race label|replicas=N]

Listens on FOLDER/docker.sock and prints 1 once it does (peer_start reads that line as a port). Every request is
forwarded to the Engine at SOCKET unchanged, and logged to FOLDER/requests.log as one JSON line {"method", "path",
"status", "message"}. With --race, before it forwards the first service update it changes that same service itself
through the Engine (a label, or the replica count), so the update it then forwards carries a stale version and the
Engine answers as it does to any client that lost such a race. It exits when its standard input closes."""
import argparse
import http.client
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("folder")
parser.add_argument("--engine", required=True)
parser.add_argument("--race", default="")
options = parser.parse_args()
lock = threading.Lock()
raced = False


class EngineConnection(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=60)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(options.engine)


def engine(method, path, body=None, headers=None):
    connection = EngineConnection()
    connection.request(method, path, body=body, headers=headers or {})
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    return answer, data


def race(path):
    """Updates the service named in an update path through the Engine, as another client would."""
    service_path = path.split("/update")[0]
    answer, data = engine("GET", service_path)
    service = json.loads(data)
    spec = service["Spec"]
    if options.race == "label":
        spec.setdefault("Labels", {})["hydra-test.race"] = "won"
    else:
        spec["Mode"]["Replicated"]["Replicas"] = int(options.race.split("=")[1])
    answer, data = engine("POST", "%s/update?version=%d" % (service_path, service["Version"]["Index"]),
                          json.dumps(spec).encode(), {"Content-Type": "application/json"})
    log({"method": "RACE", "path": service_path, "status": answer.status, "message": data.decode()[:200]})


def log(entry):
    with lock:
        with open(os.path.join(options.folder, "requests.log"), "a") as out:
            out.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        global raced
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        path = urllib.parse.urlsplit(self.path).path
        with lock:
            race_now = options.race and not raced and self.command == "POST" and "/services/" in path and \
                path.endswith("/update")
            raced = raced or bool(race_now)
        if race_now:
            race(path)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
        answer, data = engine(self.command, self.path, body if body else None, headers)
        message = ""
        if answer.status >= 400:
            try:
                message = json.loads(data).get("message", "")
            except ValueError:
                message = data.decode(errors="replace")[:200]
        log({"method": self.command, "path": self.path, "status": answer.status, "message": message})
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = forward

    def log_message(self, format, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


server = Server(os.path.join(options.folder, "docker.sock"), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(1, flush=True)
sys.stdin.read()

#!/usr/bin/python3
"""A real HTTP receiver for notifier tests: listens on a free port of 127.0.0.1, prints the port on its first line,
and appends every request it gets to LOG as one JSON line {"path", "headers", "body"}.

  tests/receiver.py LOG [--fail-first N] [--status CODE] [--delay SECONDS]

--fail-first N answers 500 to the first N requests; --status answers every (other) request with CODE (default 200);
--delay waits that long before answering. It exits when its standard input closes, so a test that dies leaves none."""
import argparse
import http.server
import json
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("log")
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--status", type=int, default=200)
parser.add_argument("--delay", type=float, default=0)
options = parser.parse_args()
lock = threading.Lock()
seen = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        time.sleep(options.delay)
        with lock:
            seen += 1
            status = 500 if seen <= options.fail_first else options.status
            with open(options.log, "a") as log:
                log.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": body,
                                      "status": status}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()

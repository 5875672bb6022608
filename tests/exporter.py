#!/usr/bin/python3
"""A fixture exporter for the Prometheus source's tests: serves /metrics in the text format 0.0.4 on a free port of
127.0.0.1 (printed on its first line) until its standard input closes. requests_per_second of service "web" is ten
times the number of scrapes so far; "broken" is NaN; "twin" has two series (zones a and b, 1 each)."""
import http.server
import sys
import threading

scrapes = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global scrapes
        scrapes += 1
        body = ("# TYPE requests_per_second gauge\n"
                f'requests_per_second{{service="web"}} {scrapes * 10}\n'
                'requests_per_second{service="broken"} NaN\n'
                'requests_per_second{service="twin",zone="a"} 1\n'
                'requests_per_second{service="twin",zone="b"} 1\n').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()

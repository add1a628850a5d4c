"""A tiny OTLP/HTTP JSON trace collector for the tests.

It listens on an ephemeral loopback port and records every JSON body POSTed
to /v1/traces. Modes:
  ok      answer 200 {} (an OTLP ExportTraceServiceResponse)
  hang    accept the connection, read the request, never answer (a collector
          that is alive but stuck: the exporter's timeout must fire)
  refuse  answer 503
Use: c = Collector(mode); c.start(); ... c.url; c.spans(); c.stop().
Runs in a thread of the test process (no extra PID to manage)."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        col = self.server.collector
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with col.lock:
            col.requests.append({"path": self.path,
                                 "content_type": self.headers.get("Content-Type"),
                                 "body": body})
        if col.mode == "hang":
            col.release.wait(30)
            return
        code, out = (503, b'{"error":"busy"}') if col.mode == "refuse" else (200, b"{}")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


class Collector:
    def __init__(self, mode="ok"):
        self.mode = mode
        self.lock = threading.Lock()
        self.requests = []
        self.release = threading.Event()
        self.httpd = None
        self.thread = None

    def start(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.collector = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d/v1/traces" % self.port

    def bodies(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def spans(self):
        """Every span received, with the resource and scope it came under."""
        out = []
        for b in self.bodies():
            for rs in b["resourceSpans"]:
                res = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                for ss in rs["scopeSpans"]:
                    for sp in ss["spans"]:
                        sp = dict(sp)
                        sp["_resource"] = res
                        sp["_scope"] = ss["scope"]
                        out.append(sp)
        return out

    def wait_spans(self, n, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.spans()
            if len(s) >= n:
                return s
            time.sleep(0.02)
        return self.spans()

    def stop(self):
        self.release.set()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


def attrs(span):
    """A span's attributes as {key: python value} (intValue strings -> int)."""
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        if "stringValue" in v:
            out[a["key"]] = v["stringValue"]
        elif "intValue" in v:
            out[a["key"]] = int(v["intValue"])
        elif "doubleValue" in v:
            out[a["key"]] = float(v["doubleValue"])
        elif "boolValue" in v:
            out[a["key"]] = bool(v["boolValue"])
    return out


def black_hole():
    """A listening socket that never accepts: connects complete in the
    kernel backlog and then nothing ever answers. Returns (socket, url)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, "http://127.0.0.1:%d/v1/traces" % s.getsockname()[1]

#!/usr/bin/python3
"""fake_provider.py -- a fake embedding provider for tests and benchmarks.

Serves the OpenAI-compatible POST /v1/embeddings and Ollama POST /api/embed
on 127.0.0.1:<ephemeral port> (the port is printed on stdout, one line),
HTTP/1.1 with keep-alive, one thread per connection (so a hanging request
does not block the others). Standard library only; run with /usr/bin/python3.

Embeddings are deterministic: embedding(text, dim) seeds a PRNG with the
SHA-256 of the text, so tests can recompute the expected vector. OpenAI
requests honour "encoding_format": "base64" (little-endian float32) and
"dimensions"; the default dimension is 8. A request whose "model" starts
with "bow" gets bag-of-words embeddings instead (bow_embedding: the sum of
the words' deterministic vectors), so rewordings of a prompt are near each
other and semantic hits can be tested end to end.

Misbehaviour on request, either for the next N embedding requests
(POST /mode {"mode": M, "count": N, "arg": A}; count -1 = until reset) or
for one request whose first input starts with "!M " or "!M:A ":
  429 (Retry-After: A seconds, default 1)   500   503 (Retry-After: A if given)
  quota (429 insufficient_quota)    hang (never answers)    trickle (1 byte/s)
  garbage (not JSON)    nan (a NaN in the vector; float JSON or base64)
  inf (1e999 in float JSON)    wrongdim    wrongcount    dupindex    badindex
  huge (an endless body)    redirect_meta (302 to 169.254.169.254)
  redirect_file (302 to file:///etc/passwd)    redirect_local (302 to this
  server's /followed, which counts follow-ups)    delay (sleep A ms, then ok)
  400 (a plain client error)
GET /stats returns the counters as JSON: requests (embedding requests
received, any outcome), billable_calls and billable_inputs (200 answers
with valid embeddings and their inputs), tokens, connections (TCP
connections accepted: keep-alive shows as fewer connections than
requests), last_auth (the Authorization header of the last request), batch_sizes (inputs per request, in arrival order), followed
(hits on /followed), by_mode. POST /reset zeroes them and the mode.
"""
import base64
import hashlib
import json
import random
import re
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_DIM = 8
LOCK = threading.Lock()
STOP = threading.Event()
STATE = {}


def reset():
    with LOCK:
        STATE.clear()
        STATE.update(requests=0, billable_calls=0, billable_inputs=0, tokens=0,
                     connections=0, last_auth=None, batch_sizes=[], followed=0, by_mode={},
                     mode=None, mode_count=0, mode_arg=None)


reset()
_CACHE = {}


def embedding(text, dim):
    """Deterministic float32-representable vector for text (bytes or str)."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    key = (text, dim)
    v = _CACHE.get(key)
    if v is None:
        rng = random.Random(hashlib.sha256(text).digest())
        raw = struct.pack("<%df" % dim, *[rng.uniform(-1.0, 1.0) for _ in range(dim)])
        v = list(struct.unpack("<%df" % dim, raw))
        if len(_CACHE) > 100000:
            _CACHE.clear()
        _CACHE[key] = v
    return v


def bow_embedding(text, dim):
    """Sum of embedding(word) over the lower-cased words of text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    words = re.findall(r"\w+", text.lower()) or [text]
    acc = [0.0] * dim
    for w in words:
        for i, x in enumerate(embedding("w:" + w, dim)):
            acc[i] += x
    raw = struct.pack("<%df" % dim, *acc)
    return list(struct.unpack("<%df" % dim, raw))


def tokens_of(text):
    return max(1, len(text.encode("utf-8", "surrogatepass")) // 4)


def take_mode(inputs):
    """The misbehaviour for this request: (mode, arg) or (None, None)."""
    if inputs and isinstance(inputs[0], str) and inputs[0].startswith("!"):
        word = inputs[0][1:].split(" ", 1)[0]
        mode, _, arg = word.partition(":")
        return mode, (arg or None)
    with LOCK:
        if STATE["mode"] and STATE["mode_count"] != 0:
            if STATE["mode_count"] > 0:
                STATE["mode_count"] -= 1
            return STATE["mode"], STATE["mode_arg"]
    return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with LOCK:
            STATE["connections"] += 1

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, code, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_raw(code, body, headers)

    def send_raw(self, code, body, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                snap = {k: v for k, v in STATE.items() if not k.startswith("mode")}
            self.send_json(200, snap)
        elif self.path == "/followed":
            with LOCK:
                STATE["followed"] += 1
            self.send_json(200, {"followed": True})
        else:
            self.send_json(404, {"error": "not found"})

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        body = self.read_body()
        if self.path == "/reset":
            reset()
            return self.send_json(200, {"ok": True})
        if self.path == "/mode":
            req = json.loads(body or b"{}")
            with LOCK:
                STATE["mode"] = req.get("mode")
                STATE["mode_count"] = int(req.get("count", 1))
                STATE["mode_arg"] = req.get("arg")
            return self.send_json(200, {"ok": True})
        if self.path == "/followed":
            with LOCK:
                STATE["followed"] += 1
            return self.send_json(200, {"followed": True})
        if self.path not in ("/v1/embeddings", "/api/embed"):
            return self.send_json(404, {"error": "no such endpoint " + self.path})
        try:
            req = json.loads(body)
        except ValueError:
            return self.send_json(400, {"error": {"message": "bad json", "type": "invalid_request_error"}})
        inputs = req.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
            return self.send_json(400, {"error": {"message": "input must be non-empty strings",
                                                  "type": "invalid_request_error"}})
        mode, arg = take_mode(inputs)
        with LOCK:
            STATE["last_auth"] = self.headers.get("Authorization")
            STATE["requests"] += 1
            STATE["batch_sizes"].append(len(inputs))
            if mode:
                STATE["by_mode"][mode] = STATE["by_mode"].get(mode, 0) + 1
        ollama = self.path == "/api/embed"
        if mode and self.misbehave(mode, arg, inputs, req, ollama):
            return
        self.answer(inputs, req, ollama, mode)

    def misbehave(self, mode, arg, inputs, req, ollama):
        """Sends a faulty answer; False if the mode alters the body instead."""
        if mode == "429":
            self.send_json(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                           "code": "rate_limit_exceeded"}},
                           [("Retry-After", str(arg or 1))])
        elif mode == "quota":
            self.send_json(429, {"error": {"message": "You exceeded your current quota",
                                           "type": "insufficient_quota", "code": "insufficient_quota"}})
        elif mode in ("500", "503", "400"):
            hdrs = [("Retry-After", str(arg))] if arg and mode == "503" else []
            self.send_json(int(mode), {"error": {"message": "fake " + mode, "type": "server_error"}}, hdrs)
        elif mode == "hang":
            STOP.wait(120)
            self.close_connection = True
        elif mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                while not STOP.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            self.close_connection = True
        elif mode == "garbage":
            self.send_raw(200, b'{"data": [{"index": 0, "embedding": [0.1, 0.2,,,')
        elif mode == "huge":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            chunk = b'{"data":[' + b"0," * 32768
            try:
                for _ in range(1 << 14):
                    if STOP.is_set():
                        break
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True
        elif mode.startswith("redirect"):
            port = self.server.server_address[1]
            loc = {"redirect_meta": "http://169.254.169.254/latest/meta-data/",
                   "redirect_file": "file:///etc/passwd",
                   "redirect_local": "http://127.0.0.1:%d/followed" % port}[mode]
            self.send_json(302, {"moved": loc}, [("Location", loc)])
        elif mode == "delay":
            time.sleep(int(arg or 100) / 1000.0)
            return False
        else:
            return False
        return True

    def answer(self, inputs, req, ollama, mode):
        dim = int(req.get("dimensions") or DEFAULT_DIM)
        if str(req.get("model") or "").startswith("bow"):
            vecs = [bow_embedding(t, dim) for t in inputs]
        else:
            vecs = [embedding(t, dim) for t in inputs]
        if mode == "wrongdim":
            vecs[0] = vecs[0] + [0.5]
        if mode == "inf":
            vecs[0] = [12345.5] + vecs[0][1:]
        if mode == "nan":
            vecs[-1] = vecs[-1][:-1] + [float("nan")]
        if mode == "wrongcount":
            vecs = vecs[:-1] if len(vecs) > 1 else vecs + vecs
        tokens = sum(tokens_of(t) for t in inputs)
        if ollama:
            out = {"model": req.get("model", "fake"), "embeddings": vecs,
                   "total_duration": 1000, "prompt_eval_count": tokens}
        else:
            b64 = req.get("encoding_format") == "base64"
            data = []
            for i, v in enumerate(vecs):
                emb = base64.b64encode(struct.pack("<%df" % len(v), *v)).decode() if b64 else v
                data.append({"object": "embedding", "index": i, "embedding": emb})
            if mode == "dupindex" and len(data) > 1:
                data[1]["index"] = 0
            elif mode == "dupindex":
                data.append(dict(data[0]))
            if mode == "badindex":
                data[-1]["index"] = len(data) + 5
            data.reverse()  # clients must match by index, not by order
            out = {"object": "list", "data": data, "model": req.get("model", "fake"),
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        body = json.dumps(out).encode()  # NaN is emitted bare: invalid JSON
        if mode == "inf":  # base64 has no text form of 1e999: it carries the finite sentinel
            body = body.replace(b"12345.5", b"1e999", 1)
        with LOCK:
            if not mode or mode == "delay":
                STATE["billable_calls"] += 1
                STATE["billable_inputs"] += len(inputs)
                STATE["tokens"] += tokens
        self.send_raw(200, body)


class Server(ThreadingHTTPServer):
    request_queue_size = 256   # the default listen backlog of 5 resets bursts of connections
    daemon_threads = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        STOP.set()


if __name__ == "__main__":
    sys.exit(main())

"""A Kubernetes API server of pods, for the VM suite: enough of `/api/v1/pods` for a
client's list and watch (what `polc agent watch` does), over plain HTTP.

    fake = FakeApi()            # listens on 127.0.0.1, a free port
    fake.kubeconfig(path)       # a kubeconfig naming it
    fake.put(pod)               # ADDED or MODIFIED to every watcher
    fake.delete(name)           # DELETED
    fake.close()

LIST answers with a PodList and its resourceVersion; WATCH (`watch=true`) streams
the events after the resourceVersion asked for, as JSON lines in chunks, until the
client leaves or `timeoutSeconds` pass. A `fieldSelector` of `spec.nodeName=X` is
honoured; other parameters are accepted and ignored. Requests are logged.
"""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeApi:
    def __init__(self):
        self.lock = threading.Condition()
        self.pods = {}  # name -> pod
        self.events = []  # (resourceVersion, type, pod)
        self.version = 1
        self.requests = []
        self.closed = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - the http.server name
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                with api.lock:
                    api.requests.append(self.path)
                if u.path != "/api/v1/pods":
                    return self.reply(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
                node = None
                sel = q.get("fieldSelector", "")
                if sel.startswith("spec.nodeName="):
                    node = sel.split("=", 1)[1]

                def mine(pod):
                    return node is None or pod.get("spec", {}).get("nodeName") == node

                if q.get("watch") not in ("true", "1"):
                    with api.lock:
                        items = [p for p in api.pods.values() if mine(p)]
                        rv = str(api.version)
                    return self.reply(200, {"apiVersion": "v1", "kind": "PodList",
                                            "metadata": {"resourceVersion": rv}, "items": items})
                since = int(q.get("resourceVersion") or 0)
                deadline = time.monotonic() + min(int(q.get("timeoutSeconds") or 60), 60)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    while time.monotonic() < deadline:
                        with api.lock:
                            if api.closed:
                                break
                            new = [e for e in api.events if e[0] > since]
                            if not new:
                                api.lock.wait(0.5)
                                continue
                        for rv, kind, pod in new:
                            since = rv
                            if mine(pod):
                                self.chunk(json.dumps({"type": kind, "object": pod}) + "\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def chunk(self, text):
                b = text.encode()
                self.wfile.write(f"{len(b):x}\r\n".encode() + b + b"\r\n")
                self.wfile.flush()

            def reply(self, code, body):
                b = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, path):
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "vm", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "vm", "user": {"token": "vm"}}],
            "contexts": [{"name": "vm", "context": {"cluster": "vm", "user": "vm"}}],
            "current-context": "vm",
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)

    def _event(self, kind, pod):
        with self.lock:
            self.version += 1
            pod = json.loads(json.dumps(pod))
            pod.setdefault("metadata", {})["resourceVersion"] = str(self.version)
            if kind == "DELETED":
                self.pods.pop(pod["metadata"]["name"], None)
            else:
                self.pods[pod["metadata"]["name"]] = pod
            self.events.append((self.version, kind, pod))
            self.lock.notify_all()

    def put(self, pod):
        kind = "MODIFIED" if pod["metadata"]["name"] in self.pods else "ADDED"
        self._event(kind, pod)

    def delete(self, name):
        with self.lock:
            pod = self.pods.get(name)
        if pod is not None:
            self._event("DELETED", pod)

    def close(self):
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

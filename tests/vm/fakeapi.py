"""A Kubernetes API server of pods and polc policies, for the VM suite: enough of
`/api/v1/pods` and `/apis/polc.dev/v1alpha1/<plural>` (all namespaces) for a
client's list and watch (what `polc agent watch` does), over plain HTTP.

    fake = FakeApi()            # listens on 127.0.0.1, a free port
    fake.kubeconfig(path)       # a kubeconfig naming it
    fake.put(obj)               # ADDED or MODIFIED to every watcher of its kind
    fake.delete(name)           # a pod DELETED
    fake.delete_obj(obj)        # any object DELETED
    fake.close()

LIST answers with a <Kind>List and its resourceVersion; WATCH (`watch=true`)
streams the events after the resourceVersion asked for, as JSON lines in chunks,
until the client leaves or `timeoutSeconds` pass. A `fieldSelector` of
`spec.nodeName=X` is honoured; other parameters are accepted and ignored. Requests
are logged. A path of a kind not served answers 404, as for a CRD not applied.
"""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# Served kinds: kind -> (collection path, apiVersion).
KINDS = {
    "Pod": ("/api/v1/pods", "v1"),
    "PreventionPolicy": ("/apis/polc.dev/v1alpha1/preventionpolicies", "polc.dev/v1alpha1"),
    "RuntimePolicy": ("/apis/polc.dev/v1alpha1/runtimepolicies", "polc.dev/v1alpha1"),
    "NetworkAccessPolicy": ("/apis/polc.dev/v1alpha1/networkaccesspolicies", "polc.dev/v1alpha1"),
}
KIND_OF_PATH = {path: kind for kind, (path, _) in KINDS.items()}


def _key(obj):
    m = obj.get("metadata", {})
    return (obj.get("kind", "Pod"), m.get("namespace", "default"), m["name"])


class FakeApi:
    def __init__(self, kinds=("Pod",)):
        """Serves the kinds named (others answer 404, as an API without their CRD)."""
        self.lock = threading.Condition()
        self.kinds = set(kinds)
        self.objects = {}  # (kind, namespace, name) -> object
        self.events = []  # (resourceVersion, type, object)
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
                kind = KIND_OF_PATH.get(u.path)
                if kind not in api.kinds:
                    return self.reply(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
                node = None
                sel = q.get("fieldSelector", "")
                if sel.startswith("spec.nodeName="):
                    node = sel.split("=", 1)[1]

                def mine(obj):
                    return obj.get("kind", "Pod") == kind and (
                        node is None or obj.get("spec", {}).get("nodeName") == node)

                if q.get("watch") not in ("true", "1"):
                    with api.lock:
                        items = [o for o in api.objects.values() if mine(o)]
                        rv = str(api.version)
                    return self.reply(200, {"apiVersion": KINDS[kind][1], "kind": f"{kind}List",
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
                        for rv, typ, obj in new:
                            since = rv
                            if mine(obj):
                                self.chunk(json.dumps({"type": typ, "object": obj}) + "\n")
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

    def _event(self, typ, obj):
        with self.lock:
            self.version += 1
            obj = json.loads(json.dumps(obj))
            obj.setdefault("kind", "Pod")
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.version)
            obj["metadata"].setdefault("namespace", "default")
            if typ == "DELETED":
                self.objects.pop(_key(obj), None)
            else:
                self.objects[_key(obj)] = obj
            self.events.append((self.version, typ, obj))
            self.lock.notify_all()

    def put(self, obj):
        with self.lock:
            typ = "MODIFIED" if _key(obj) in self.objects else "ADDED"
        self._event(typ, obj)

    def delete(self, name):
        """Delete the pod named `name` (of any namespace)."""
        with self.lock:
            found = [o for k, o in self.objects.items() if k[0] == "Pod" and k[2] == name]
        for o in found:
            self._event("DELETED", o)

    def delete_obj(self, obj):
        with self.lock:
            m = obj.get("metadata", {})
            o = self.objects.get((obj.get("kind", "Pod"), m.get("namespace", "default"), m["name"]))
        if o is not None:
            self._event("DELETED", o)

    def close(self):
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

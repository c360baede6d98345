"""Harness of the binding tests: the real `lastmile` server as a child process, accounts made
with its admin commands, a dispatcher over HTTP, a TCP proxy that can cut the network, and
camera-like images made with Pillow.

The generated `lastmile` module and the library it loads are found through PYTHONPATH
(scripts/test-bindings sets it up); the server binary through LASTMILE_BIN.
"""

import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from PIL import Image, ImageDraw

PASSWORD = "correct horse battery"


def lastmile_bin():
    path = os.environ.get("LASTMILE_BIN")
    if not path:
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
        path = os.path.join(root, "target", "debug", "lastmile")
    assert os.path.exists(path), f"{path} is missing: cargo build -p server"
    return path


class Server:
    """`lastmile serve --listen 127.0.0.1:0 --data-dir <tmp>` on SQLite."""

    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix="lastmile-py-")
        self.env = dict(os.environ)
        for k in ("LASTMILE_CONFIG", "LASTMILE_LISTEN", "DATABASE_URL"):
            self.env.pop(k, None)
        self.env.update(LASTMILE_LOG_FORMAT="json", RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [lastmile_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = None
        for line in self.proc.stdout:
            if line.startswith("Lastmile listening on "):
                self.url = line.split(" on ", 1)[1].strip()
                break
        assert self.url, "the server did not start"
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def admin(self, *args):
        env = dict(self.env, LASTMILE_PASSWORD=PASSWORD)
        out = subprocess.run(
            [lastmile_bin(), "--data-dir", self.data_dir, "admin", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def org(self, engineers=1):
        """An organisation with a dispatcher and engineers; returns (dispatcher email,
        [(engineer id, email)])."""
        tag = uuid.uuid4().hex[:8]
        name = f"Org {tag}"
        self.admin("create-org", name)
        dispatcher = f"dispatch@{tag}.test"
        self.admin("create-user", "--org", name, "--email", dispatcher, "--name", "Dana",
                   "--role", "dispatcher")
        engs = []
        for i in range(engineers):
            email = f"eng{i}@{tag}.test"
            uid = self.admin("create-user", "--org", name, "--email", email, "--name",
                             f"Engineer {i}", "--role", "engineer")
            engs.append((uid, email))
        return dispatcher, engs

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Office:
    """A dispatcher talking JSON to the server."""

    def __init__(self, url, email):
        self.url = url
        status, body = self.call("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200, body
        self.token = body["token"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if getattr(self, "token", None):
            req.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw and "json" in resp.headers.get("content-type", "") else raw)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def order_for(self, engineer_id, lat, lon, start_ms=None):
        status, customer = self.call("POST", "/api/v1/customers", {"name": "Acme Cold Storage"})
        assert status == 201, customer
        status, order = self.call("POST", "/api/v1/work-orders", {
            "customer_id": customer["id"],
            "site": {"address": "1 Dock Road, Shanghai", "lat": lat, "lon": lon},
            "asset": {"id": "A-1", "model": "Chiller X200", "serial": "SN-0001"},
            "problem": "Compressor trips after ten minutes",
            "priority": "high",
        })
        assert status == 201, order
        oid = order["id"]
        status, body = self.call("POST", f"/api/v1/work-orders/{oid}/assign", {"engineer_id": engineer_id})
        assert status == 200, body
        if start_ms is not None:
            status, body = self.call("POST", f"/api/v1/work-orders/{oid}/schedule",
                                     {"start_ms": start_ms, "end_ms": start_ms + 7_200_000})
            assert status == 200, body
        return oid

    def document(self, oid):
        status, body = self.call("GET", f"/api/v1/work-orders/{oid}/document")
        assert status == 200, body
        return body

    def blob(self, oid, digest, thumbnail=False):
        suffix = "/thumbnail" if thumbnail else ""
        return self.call("GET", f"/api/v1/work-orders/{oid}/blobs/{digest}{suffix}")


class Proxy:
    """A TCP proxy in front of the server: `down()` (no signal), `up()`, and
    `cut_after(n)`: pass n more request bytes, then cut every connection and stay down."""

    def __init__(self, upstream):
        host, port = upstream.replace("http://", "").split(":")
        self.upstream = (host, int(port))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.mode = "pass"
        self.budget = 0
        self.forwarded = 0
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                down = self.mode == "down"
            if down:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.conns += [client, server]
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, src, dst):
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                with self.lock:
                    if self.mode == "down":
                        break
                    if self.mode == "cut":
                        if len(data) >= self.budget:
                            data = data[: self.budget]
                            self.mode = "down"
                            dst.sendall(data)
                            self.forwarded += len(data)
                            self._cut_all()
                            break
                        self.budget -= len(data)
                dst.sendall(data)
                with self.lock:
                    self.forwarded += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _down(self, src, dst):
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _cut_all(self):
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns = []

    def up(self):
        with self.lock:
            self.mode = "pass"

    def down(self):
        with self.lock:
            self.mode = "down"
            self._cut_all()

    def cut_after(self, n):
        with self.lock:
            self.mode = "cut"
            self.budget = n

    def close(self):
        self.sock.close()


def camera_jpeg(width=4000, height=3000, orientation=6, seed=0):
    """A camera-like photo: gradients and texture, stored sideways with EXIF orientation 6
    (rotate 90 degrees clockwise to display), as a phone held upright writes it."""
    img = Image.effect_noise((width, height), 40 + seed).convert("RGB")
    overlay = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    img = Image.blend(img, overlay, 0.6)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, width // 2, height], outline=(200, 30, 30), width=40)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Test Camera"
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def signature_png(width=900, height=300):
    """A drawing pad's signature: ink strokes on a transparent background."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    points = [(x, height // 2 + int(40 * ((x // 30) % 2 * 2 - 1))) for x in range(20, width - 20, 30)]
    draw.line(points, fill=(20, 30, 120, 255), width=6)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="lastmile-phone-")
    yield d
    shutil.rmtree(d, ignore_errors=True)

"""telegram.proxy: every Bot API request goes through the configured proxy
(a small forwarding HTTP proxy written here, on 127.0.0.1), which wins over
libcurl's proxy environment; and `opsbot route-test` explains routes."""
import http.client
import json
import os
import socket
import socketserver
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

from harness import GROUP, OPSBOT, Harness, wait_until

PROXY_USER, PROXY_PASS = "opsuser", "PROXYSECRET42"


class _Proxy(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ForwardProxy:
    """An HTTP proxy on 127.0.0.1: forwards absolute-URI requests (what
    libcurl sends for http:// through an http:// proxy) and tunnels
    CONNECT, only ever to 127.0.0.1. Counts the Bot API requests
    (/bot<token>/<method>) it forwarded and the Basic credentials it
    saw."""

    def __init__(self):
        self.lock = threading.Lock()
        self.bot_requests = 0
        self.auth = set()
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_CONNECT(self):
                host, _, port = self.path.rpartition(":")
                if host != "127.0.0.1":
                    return self._refuse()
                try:
                    up = socket.create_connection((host, int(port)), 10)
                except OSError:
                    return self._refuse()
                self.send_response(200, "Connection established")
                self.end_headers()
                self._pipe(self.connection, up)

            def _pipe(self, a, b):
                def one(src, dst):
                    try:
                        while True:
                            d = src.recv(65536)
                            if not d:
                                break
                            dst.sendall(d)
                    except OSError:
                        pass
                    finally:
                        for s in (src, dst):
                            try:
                                s.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                t = threading.Thread(target=one, args=(b, a), daemon=True)
                t.start()
                one(a, b)
                t.join(15)
                self.close_connection = True

            def _refuse(self):
                with outer.lock:
                    outer.refused += 1
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _forward(self):
                u = urllib.parse.urlsplit(self.path)
                if u.scheme != "http" or u.hostname != "127.0.0.1":
                    return self._refuse()
                auth = self.headers.get("Proxy-Authorization")
                if auth:
                    with outer.lock:
                        outer.auth.add(auth)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-authorization",
                                                "proxy-connection",
                                                "connection", "host")}
                path = u.path + ("?" + u.query if u.query else "")
                if "/bot" in u.path:
                    with outer.lock:
                        outer.bot_requests += 1
                c = http.client.HTTPConnection("127.0.0.1", u.port, timeout=120)
                try:
                    c.request(self.command, path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                finally:
                    c.close()
                self.send_response(r.status, r.reason)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "connection",
                                         "transfer-encoding",
                                         "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass  # the daemon stopped while a long poll was out

            do_GET = do_POST = _forward

        self.server = _Proxy(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_every_request_goes_through_the_proxy():
    proxy = ForwardProxy()
    url = "http://%s:%s@127.0.0.1:%d" % (PROXY_USER, PROXY_PASS, proxy.port)
    h = Harness("proxy", telegram_extra='proxy = "%s";' % url)
    try:
        # check-config takes the URL; the password is never printed
        r = h.cli("check-config")
        assert r.returncode == 0, r.stderr
        assert PROXY_PASS not in r.stdout + r.stderr
        # The environment points elsewhere (a closed port, and no_proxy
        # for the emulator's address): the setting must win over both.
        env = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY":
               "http://127.0.0.1:9", "all_proxy": "http://127.0.0.1:9",
               "no_proxy": "127.0.0.1,localhost"}
        h.start(env=env)
        rep = h.send({"severity": "error", "title": "via proxy",
                      "text": "through 127.0.0.1"})
        assert rep["ok"], rep
        wait_until(lambda: any("via proxy" in m["text"]
                               for m in h.emu.messages(GROUP)),
                   20, 0.1, "the alert in the chat")
        h.stop()
        # A long poll still open when the daemon stopped is logged by the
        # emulator only when it ends (poll_timeout later): wait for it.
        wait_until(lambda: h.emu.stats()["requests"] >= proxy.bot_requests,
                   15, 0.1, "the emulator to log the last long poll")
        emu_count = h.emu.stats()["requests"]
        assert emu_count >= 2, emu_count  # sendMessage and getUpdates at least
        assert proxy.bot_requests == emu_count, (proxy.bot_requests, emu_count)
        assert proxy.refused == 0
        # libcurl authenticated to the proxy with the configured user
        assert any(a.startswith("Basic ") for a in proxy.auth), proxy.auth
        assert PROXY_PASS not in h.log(), "proxy password in the log"
    finally:
        h.close()
        proxy.close()


def test_invalid_proxy_refused_without_echoing_it():
    h = Harness("proxybad", start_emulator=False,
                telegram_extra='proxy = "ftp://u:TOPSECRET@127.0.0.1:1";')
    try:
        r = h.cli("check-config")
        assert r.returncode == 1
        assert "telegram.proxy: unsupported proxy scheme" in r.stderr, r.stderr
        assert "TOPSECRET" not in r.stderr
    finally:
        h.close()


def test_route_test_explains():
    h = Harness("routetest", start_emulator=False, extra_conf="""
routes = (
  { labels = { env = "prod*"; team = "db"; }; chats = [ -1002000000001L ];
    thread_id = 9L; template = "DB {{icon}} <b>{{title}}</b>"; },
  { source = "web*"; min_severity = "warning"; labels = { env = "!prod*"; };
    chats = [ -1003000000001L ]; }
);""")
    try:
        def rt(alert, *args):
            return subprocess.run([OPSBOT, "-c", h.conf, "route-test"] +
                                  list(args), input=json.dumps(alert),
                                  capture_output=True, text=True, timeout=30)
        r = rt({"severity": "error", "title": "Lag <1>", "text": "t",
                "labels": {"env": "prod-eu", "team": "db"}}, "--render")
        assert r.returncode == 0, r.stderr
        assert ('routes[0]: matches: severity error >= debug, label '
                'env="prod-eu" matches "prod*", label team="db" matches "db"'
                in r.stdout), r.stdout
        assert "chat -1002000000001 thread 9 (routes[0] template)" in r.stdout
        assert "DB 🟠 <b>Lag &lt;1&gt;</b>" in r.stdout, r.stdout
        r = rt({"source": "web1", "severity": "info", "text": "x"})
        assert "routes[1]: does not match: severity info is below warning" \
            in r.stdout, r.stdout
        assert "the default chats" in r.stdout
        assert "chat %d (built-in layout)" % GROUP in r.stdout, r.stdout
        r = rt({"source": "web1", "severity": "error", "text": "x",
                "labels": {"env": "prod"}})
        assert 'label env="prod" matches the excluded "prod*"' in r.stdout
        r = rt({"severity": "nope", "text": "x"})
        assert r.returncode == 1 and "severity: unknown value" in r.stderr
    finally:
        h.close()

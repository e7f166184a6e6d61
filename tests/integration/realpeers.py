"""realpeers.py - runs the REAL Prometheus Alertmanager and Prometheus
(Debian packages prometheus-alertmanager and prometheus) on loopback for
opsbot's integration tests and benchmarks.

Each peer gets its own temp dir (config, storage, log) and free 127.0.0.1
ports, waits until its API answers before the constructor returns, and is
killed on close(), on `with` exit, at interpreter exit, and (PR_SET_PDEATHSIG)
when the test process itself dies. Every wait is bounded.

    with WebhookSink() as sink, Alertmanager(sink.url, bearer_token="t") as am:
        am.post_alerts([am_alert("DiskFull", instance="db1")])
        body = sink.wait_for(lambda b: b["status"] == "firing")

    with Prometheus(["127.0.0.1:%d" % port]) as prom:
        prom.wait_for('up{job="opsbot"}', lambda r: r and r[0][1] == "1")

Configs are written as JSON, which is YAML, so no YAML library is needed.
A test calls require_alertmanager() / require_prometheus() first: they
raise marks.Skip with a clear message when the binary is missing, or fail
when OPSBOT_REQUIRE_PEERS=1 (CI, where they must be installed).
"""
import atexit
import ctypes
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from marks import Skip

AM_BIN = os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
PROM_BIN = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0

TOKEN_RE = re.compile(r"bot\d+:[A-Za-z0-9_-]+")  # in a logged Bot API URL
_LIVE = set()  # running _Process objects, killed at exit
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent():
    # Runs in the child between fork and exec: if the test process is
    # killed (run.py timeout, ^C), the peer goes with it.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@atexit.register
def _kill_all():
    for p in list(_LIVE):
        p.kill()


# ------------------------------------------------------------------ helpers

def _require(path, pkg):
    if os.access(path, os.X_OK):
        return
    msg = "%s not found: install the Debian package %s " \
          "(contrib/install-deps.sh does)" % (path, pkg)
    if os.environ.get("OPSBOT_REQUIRE_PEERS") == "1":
        raise AssertionError(msg + " [OPSBOT_REQUIRE_PEERS=1]")
    raise Skip(msg)


def require_alertmanager():
    _require(AM_BIN, "prometheus-alertmanager")


def require_prometheus():
    _require(PROM_BIN, "prometheus")


def free_port(udp=False):
    """A port free on 127.0.0.1 right now (TCP, and UDP too if asked:
    Alertmanager's cluster port uses both)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((HOST, 0))
        port = t.getsockname()[1]
        try:
            if udp:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    u.bind((HOST, port))
                except OSError:
                    continue
                finally:
                    u.close()
            return port
        finally:
            t.close()
    raise OSError("no free port pair on %s" % HOST)


def http_json(method, url, body=None, headers=None, timeout=HTTP_TIMEOUT):
    """(status, parsed JSON or raw text or None). Never raises on an HTTP
    status; raises OSError when nothing answers."""
    data = None
    h = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if not raw:
        return status, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def rfc3339(t=None):
    """Wall time t (seconds, default now) as Alertmanager wants it."""
    d = datetime.datetime.fromtimestamp(time.time() if t is None else t,
                                        datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def am_alert(alertname, resolved=False, annotations=None, starts_at=None,
             generator_url="http://prometheus.example/graph", **labels):
    """One alert for POST /api/v2/alerts. resolved=True sets endsAt in the
    past, which resolves it in Alertmanager; starts_at (an rfc3339()
    string) should be the firing's, as Prometheus sends it."""
    a = {"labels": dict(labels, alertname=alertname),
         "annotations": dict(annotations or {}),
         "generatorURL": generator_url}
    if starts_at:
        a["startsAt"] = starts_at
    if resolved:
        a["endsAt"] = rfc3339(time.time() - 0.5)
    return a


def wait_until(pred, timeout, what, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ------------------------------------------------------------------ process

class _Process:
    """One peer process: temp dir, log, start/wait-ready/stop/kill."""

    name = "peer"

    def __init__(self, base_dir=None):
        self.own_dir = base_dir is None
        self.dir = base_dir or tempfile.mkdtemp(prefix="opsbot-%s-" %
                                                self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.starts = 0

    # subclasses: argv(), ready() -> bool
    @property
    def log_path(self):
        return os.path.join(self.dir, "%s.%d.log" % (self.name, self.starts))

    def log(self):
        out = []
        for i in range(1, self.starts + 1):
            p = os.path.join(self.dir, "%s.%d.log" % (self.name, i))
            try:
                with open(p, errors="replace") as f:
                    out.append(f.read())
            except OSError:
                pass
        return TOKEN_RE.sub("bot<redacted>", "\n".join(out))

    def start(self, timeout=START_TIMEOUT):
        self.starts += 1
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.dir,
                preexec_fn=_die_with_parent)
        _LIVE.add(self)
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                _LIVE.discard(self)
                raise AssertionError("%s exited %s at start:\n%s" % (
                    self.name, self.proc.returncode, self.log()[-3000:]))
            try:
                if self.ready():
                    return self
            except OSError:
                pass
            if time.monotonic() >= end:
                self.kill()
                raise AssertionError("%s not ready after %.0fs:\n%s" % (
                    self.name, timeout, self.log()[-3000:]))
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it has not exited within timeout."""
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        _LIVE.discard(self)

    def kill(self):
        """SIGKILL (a crash)."""
        if self.running():
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        _LIVE.discard(self)

    def restart(self, timeout=START_TIMEOUT):
        """Stops if running, starts again with the same ports and storage."""
        self.stop()
        return self.start(timeout)

    def close(self):
        self.kill()
        if self.own_dir and os.environ.get("KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------- Alertmanager

def telegram_receiver(api_url, bot_token, chat_id, message=None,
                      parse_mode="HTML", disable_notifications=False,
                      send_resolved=True):
    """A telegram_configs entry (Alertmanager 0.25 fields: api_url,
    bot_token, chat_id, message, parse_mode, disable_notifications,
    send_resolved, http_config). message None = Alertmanager's default
    template telegram.default.message."""
    t = {"api_url": api_url, "bot_token": bot_token, "chat_id": int(chat_id),
         "parse_mode": parse_mode, "send_resolved": send_resolved,
         "disable_notifications": disable_notifications}
    if message is not None:
        t["message"] = message
    return t


class Alertmanager(_Process):
    """prometheus-alertmanager on 127.0.0.1:port with one receiver "main":
    a webhook to webhook_url (send_resolved, optional bearer token in
    http_config.authorization), and/or a Telegram receiver (telegram=
    telegram_receiver(...)), or any receiver dict (receiver=).

    Clustering is off (--cluster.listen-address="") unless cluster_port is
    given (0 = pick one) or peers ("127.0.0.1:CPORT", ...) are."""

    name = "alertmanager"

    def __init__(self, webhook_url=None, bearer_token=None, group_wait="0s",
                 group_interval="1s", repeat_interval="1h",
                 group_by=("alertname",), peers=(), cluster_port=None,
                 telegram=None, receiver=None, resolve_timeout="5m",
                 peer_timeout="2s", gossip_interval="50ms",
                 settle_timeout="3s", webhook_max_alerts=0, base_dir=None,
                 start=True):
        _require(AM_BIN, "prometheus-alertmanager")
        super().__init__(base_dir)
        self.port = free_port()
        if cluster_port is None and peers:
            cluster_port = 0
        self.cluster_port = (free_port(udp=True) if cluster_port == 0
                             else cluster_port)
        self.peers = list(peers)
        self.cluster_opts = {"peer-timeout": peer_timeout,
                             "gossip-interval": gossip_interval,
                             "settle-timeout": settle_timeout,
                             "pushpull-interval": "1s",
                             "probe-interval": "200ms",
                             "reconnect-interval": "1s"}
        self.storage = os.path.join(self.dir, "data")
        self.config_path = os.path.join(self.dir, "alertmanager.yml")
        rcv = dict(receiver or {})
        rcv["name"] = "main"
        if webhook_url:
            wh = {"url": webhook_url, "send_resolved": True,
                  "max_alerts": webhook_max_alerts}
            if bearer_token:
                wh["http_config"] = {"authorization": {
                    "type": "Bearer", "credentials": bearer_token}}
            rcv.setdefault("webhook_configs", []).append(wh)
        if telegram:
            rcv.setdefault("telegram_configs", []).append(telegram)
        self.config = {
            "global": {"resolve_timeout": resolve_timeout},
            "route": {"receiver": "main", "group_by": list(group_by),
                      "group_wait": group_wait,
                      "group_interval": group_interval,
                      "repeat_interval": repeat_interval},
            "receivers": [rcv],
        }
        self.write_config()
        if start:
            self.start()

    @property
    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    @property
    def cluster_address(self):
        return "%s:%d" % (HOST, self.cluster_port) if self.cluster_port \
            else None

    def write_config(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=1)

    def argv(self):
        a = [AM_BIN, "--config.file=" + self.config_path,
             "--storage.path=" + self.storage,
             "--web.listen-address=%s:%d" % (HOST, self.port),
             "--web.external-url=" + self.url,
             "--log.level=debug"]
        if self.cluster_port:
            a.append("--cluster.listen-address=%s" % self.cluster_address)
            a += ["--cluster.%s=%s" % kv for kv in self.cluster_opts.items()]
            a += ["--cluster.peer=%s" % p for p in self.peers]
        else:
            a.append("--cluster.listen-address=")
        return a

    def ready(self):
        st, _ = http_json("GET", self.url + "/-/ready", timeout=1.0)
        return st == 200

    def reload(self, config=None):
        """Rewrites the config (self.config, or the one given) and has the
        running Alertmanager load it (POST /-/reload)."""
        if config is not None:
            self.config = config
        self.write_config()
        st, r = http_json("POST", self.url + "/-/reload")
        if st != 200:
            raise AssertionError("reload -> %s %r" % (st, r))

    # --- API v2 ---
    def api(self, method, path, body=None):
        return http_json(method, self.url + "/api/v2" + path, body)

    def post_alerts(self, alerts):
        st, r = self.api("POST", "/alerts", list(alerts))
        if st != 200:
            raise AssertionError("POST /api/v2/alerts -> %s %r" % (st, r))

    def alerts(self, **query):
        q = "&".join("%s=%s" % kv for kv in query.items())
        st, r = self.api("GET", "/alerts" + ("?" + q if q else ""))
        assert st == 200, (st, r)
        return r

    def silences(self):
        st, r = self.api("GET", "/silences")
        assert st == 200, (st, r)
        return r

    def post_silence(self, matchers, seconds=3600, created_by="test",
                     comment="opsbot test"):
        """matchers: {name: value} (equal, not regex); returns the id."""
        now = time.time()
        body = {"matchers": [{"name": k, "value": v, "isRegex": False,
                              "isEqual": True} for k, v in matchers.items()],
                "startsAt": rfc3339(now), "endsAt": rfc3339(now + seconds),
                "createdBy": created_by, "comment": comment}
        st, r = self.api("POST", "/silences", body)
        if st != 200:
            raise AssertionError("POST /api/v2/silences -> %s %r" % (st, r))
        return r["silenceID"]

    def status(self):
        st, r = self.api("GET", "/status")
        assert st == 200, (st, r)
        return r

    def cluster_peers(self):
        return (self.status().get("cluster") or {}).get("peers") or []


class AlertmanagerCluster:
    """n Alertmanager peers gossiping on loopback, each told of the others
    (--cluster.peer); returns once every peer sees n members and reports
    cluster status "ready". kw go to each Alertmanager."""

    def __init__(self, n=2, timeout=START_TIMEOUT, **kw):
        ports = []
        while len(ports) < n:
            p = free_port(udp=True)
            if p not in ports:
                ports.append(p)
        self.peers = []
        try:
            for i in range(n):
                others = ["%s:%d" % (HOST, p) for j, p in enumerate(ports)
                          if j != i]
                self.peers.append(Alertmanager(cluster_port=ports[i],
                                               peers=others, **kw))
            self.wait_formed(timeout)
        except BaseException:
            self.close()
            raise

    def __getitem__(self, i):
        return self.peers[i]

    def __len__(self):
        return len(self.peers)

    @property
    def urls(self):
        return [p.url for p in self.peers]

    def wait_formed(self, timeout=START_TIMEOUT, n=None):
        """Until every running peer sees n (default all) members, ready."""
        n = n or len(self.peers)

        def formed():
            for p in self.peers:
                if not p.running():
                    continue
                c = p.status().get("cluster") or {}
                if len(c.get("peers") or []) != n or c.get("status") != "ready":
                    return False
            return True
        wait_until(formed, timeout, "a cluster of %d peers" % n, 0.2)

    def post_alerts(self, alerts):
        """As Prometheus does: every alert to every running peer."""
        for p in self.peers:
            if p.running():
                p.post_alerts(alerts)

    def close(self):
        for p in self.peers:
            p.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------- Prometheus

class Prometheus(_Process):
    """prometheus on 127.0.0.1:port scraping scrape_targets ("host:port")
    as job "opsbot" at /metrics every scrape_interval; rules_files are
    copied into its dir and evaluated every evaluation_interval."""

    name = "prometheus"

    def __init__(self, scrape_targets, rules_files=None, scrape_interval="1s",
                 evaluation_interval="1s", metrics_path="/metrics",
                 bearer_token=None, alertmanagers=None, base_dir=None,
                 start=True):
        _require(PROM_BIN, "prometheus")
        super().__init__(base_dir)
        self.port = free_port()
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        rules = []
        for i, src in enumerate(rules_files or []):
            dst = os.path.join(self.dir, "rules%d.yml" % i)
            shutil.copyfile(src, dst)
            rules.append(dst)
        job = {"job_name": "opsbot", "metrics_path": metrics_path,
               "scrape_interval": scrape_interval,
               "scrape_timeout": scrape_interval,
               "static_configs": [{"targets": list(scrape_targets)}]}
        if bearer_token:
            job["authorization"] = {"type": "Bearer",
                                    "credentials": bearer_token}
        self.config = {"global": {"scrape_interval": scrape_interval,
                                  "evaluation_interval": evaluation_interval},
                       "rule_files": rules, "scrape_configs": [job]}
        if alertmanagers:
            self.config["alerting"] = {"alertmanagers": [{
                "static_configs": [{"targets": list(alertmanagers)}]}]}
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=1)
        if start:
            self.start()

    @property
    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    def argv(self):
        return [PROM_BIN, "--config.file=" + self.config_path,
                "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb"),
                "--web.listen-address=%s:%d" % (HOST, self.port),
                "--web.console.templates=" + self.dir,
                "--web.console.libraries=" + self.dir]

    def ready(self):
        st, _ = http_json("GET", self.url + "/-/ready", timeout=1.0)
        return st == 200

    def query(self, expr):
        """Instant query: [(labels dict, value string), ...]."""
        q = urllib.request.quote(expr, safe="")
        st, r = http_json("GET", self.url + "/api/v1/query?query=" + q)
        if st != 200 or r.get("status") != "success":
            raise AssertionError("query %r -> %s %r" % (expr, st, r))
        return [(x["metric"], x["value"][1]) for x in r["data"]["result"]]

    def wait_for(self, expr, predicate, timeout=15.0):
        """Polls query(expr) until predicate(result) is true; returns the
        result."""
        last = []

        def check():
            last[:] = [self.query(expr)]
            return predicate(last[0])
        try:
            wait_until(check, timeout, "query %s" % expr, 0.25)
        except AssertionError as e:
            raise AssertionError("%s (last result %r)" % (e, last))
        return last[0]

    def targets(self):
        st, r = http_json("GET", self.url + "/api/v1/targets")
        assert st == 200, (st, r)
        return r["data"]["activeTargets"]


# ------------------------------------------------------- webhook receiver

class WebhookSink:
    """A tiny HTTP server on 127.0.0.1 that records every POST: a stand-in
    for opsbot's intake while it does not exist, and a probe of what
    Alertmanager sends. status (settable) is what it answers."""

    def __init__(self, status=200, path="/hook"):
        self.status = status
        self.path = path
        self.received = []  # dicts: path, headers, body (parsed), raw, time
        self.cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(n, 64 << 20))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with sink.cond:
                    sink.received.append({
                        "path": self.path, "headers": dict(self.headers),
                        "body": body, "raw": raw, "time": time.time(),
                        "answered": sink.status})
                    sink.cond.notify_all()
                    status = sink.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://%s:%d%s" % (HOST, self.port, self.path)

    def bodies(self):
        with self.cond:
            return [r["body"] for r in self.received]

    def wait_for(self, predicate, timeout=15.0):
        """The first received body (in order) for which predicate is true;
        waits for it."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.received:
                    if r["body"] is not None and predicate(r["body"]):
                        return r["body"]
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "webhook: nothing matching after %.1fs; got %d "
                        "posts" % (timeout, len(self.received)))
                self.cond.wait(min(left, 0.5))

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------ opsbot side

def opsbot_http_conf(port, token_file=None):
    """The `http` section of opsbot's config (DESIGN.md "HTTP intake") for
    Harness(extra_conf=...)."""
    tf = '  token_file = "%s";\n' % token_file if token_file else ""
    return 'http = {\n  listen = "%s:%d";\n%s};\n' % (HOST, port, tf)

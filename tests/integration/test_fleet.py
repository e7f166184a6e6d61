"""Fleets (issue 15): three opsbot relays forward into a REAL two-peer
Alertmanager cluster, whose webhooks go to one edge opsbot (HTTP intake)
that owns the chat (the Bot API emulator).

The storm: 1,000 keyed alerts written to the three relays' sockets are
each visible exactly once in the chat, while one relay is killed -9 in
mid-stream (its writer resends what was not acknowledged, as a client
does), one Alertmanager peer is down (killed as the storm starts,
restarted once it has been written: it gets the relays' backlog), and
the edge is restarted. Then resolutions edit the messages of their
alerts, each told once.

FLEET_BENCH=1 prints the figures for docs/BENCHMARKS.md.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import (CHECKER_REPORT, GROUP, OPSBOT, Harness, LineReader,
                     wait_until)
from realpeers import (AlertmanagerCluster, free_port, opsbot_http_conf,
                       require_alertmanager)

N = 1000
NRELAYS = 3


class Relay:
    """One opsbot in relay mode (no Telegram): socket, store, relay."""

    def __init__(self, name, am_urls):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="opsbot-relay-%s-" % name)
        self.sock = os.path.join(self.dir, "alerts.sock")
        self.conf = os.path.join(self.dir, "relay.conf")
        self.proc = None
        self.logs = []
        with open(self.conf, "w") as f:
            f.write('socket = { path = "%s"; };\n'
                    'store = { path = "%s/relay.db"; };\n'
                    'retry = { base = 0.2; cap = 2; };\n'
                    'relay = {\n  alertmanager = [ %s ];\n'
                    '  host = "%s";\n  repost_interval = 20;\n'
                    '  connect_timeout = 1;\n  timeout = 5;\n};\n'
                    % (self.sock, self.dir,
                       ", ".join('"%s"' % u for u in am_urls), name))

    def start(self):
        log = os.path.join(self.dir, "relay.%d.log" % len(self.logs))
        self.logs.append(log)
        self.proc = subprocess.Popen([OPSBOT, "-c", self.conf, "run"],
                                     stdout=open(log, "w"),
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log()
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("relay %s did not start:\n%s" %
                             (self.name, self.log()))

    def log(self):
        return "\n".join(open(p, errors="replace").read() for p in self.logs)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def status(self):
        r = subprocess.run([OPSBOT, "-c", self.conf, "status", "--json"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["status"]

    def stream(self, alerts, acked, stop_after=None):
        """Pipelines alerts on one connection; appends each acknowledged
        alert's key to acked. Returns when all are answered or the relay
        went away."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(self.sock)
        r = LineReader(s)
        try:
            s.sendall(b"".join(json.dumps(a).encode() + b"\n"
                               for a in alerts))
            for a in alerts:
                rep = json.loads(r.line())
                assert rep["ok"], rep
                acked.append(a["key"])
        except (OSError, ValueError, AssertionError, EOFError):
            pass  # killed mid-stream
        finally:
            s.close()

    def close(self):
        """Stops it; raises if its logs show a sanitizer report."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        bad = [ln for ln in self.log().splitlines()
               if CHECKER_REPORT.search(ln)]
        if os.environ.get("KEEP_TMP") is None and not bad:
            shutil.rmtree(self.dir, ignore_errors=True)
        if bad:
            raise AssertionError("relay %s (%s) log shows:\n%s" %
                                 (self.name, self.dir, "\n".join(bad[:20])))


def storm_alert(r, j):
    return {"key": "r%d/n%d" % (r, j), "title": "fleet r%d n%d" % (r, j),
            "text": "disk %d%% full" % (80 + j % 20), "source": "web%d" % r,
            "severity": ["warning", "critical", "error"][j % 3]}


def titles_in(h):
    """Final text of every message in the group chat."""
    return [m["text"] for m in h.emu.messages(GROUP)]


def count_titles(texts, titles):
    """How often each title occurs over texts (whole words: n1 is not
    n10)."""
    counts = dict.fromkeys(titles, 0)
    for t in texts:
        for line in t.split("\n"):
            for w in titles_on(line):
                if w in counts:
                    counts[w] += 1
    return counts


def titles_on(line):
    out = []
    i = line.find("fleet r")
    while i >= 0:
        j = i + len("fleet r")
        while j < len(line) and (line[j].isdigit() or line[j] in " n"):
            j += 1
        out.append(line[i:j].strip())
        i = line.find("fleet r", j)
    return out


def test_fleet_storm_three_relays_two_am_peers_one_edge():
    require_alertmanager()
    port = free_port()
    hook = "http://127.0.0.1:%d/api/v1/alertmanager" % port
    cl = AlertmanagerCluster(2, webhook_url=hook, group_by=("alertname",),
                             group_interval="1s", repeat_interval="1h")
    edge = None
    relays = []
    try:
        edge = Harness("fleet-edge", extra_conf=opsbot_http_conf(port))
        edge.start()
        relays = [Relay("relay%d" % i, cl.urls) for i in range(NRELAYS)]
        for r in relays:
            r.start()
        per = [N // NRELAYS + (1 if i < N % NRELAYS else 0)
               for i in range(NRELAYS)]
        titles = ["fleet r%d n%d" % (r, j) for r in range(NRELAYS)
                  for j in range(per[r])]
        acked = [[] for _ in relays]

        # One Alertmanager peer is down as the storm starts: the relays
        # keep its backlog and give it when it is back.
        cl[0].kill()
        t0 = time.monotonic()
        # relays 0 and 2 stream all theirs; relay 1 half, then is killed
        # in mid-stream
        threads = [threading.Thread(target=relays[i].stream, args=(
            [storm_alert(i, j) for j in range(per[i])], acked[i]))
            for i in (0, 2)]
        for t in threads:
            t.start()
        half = per[1] // 2
        relays[1].stream([storm_alert(1, j) for j in range(half)], acked[1])
        assert len(acked[1]) == half
        killer = threading.Timer(0.05, relays[1].kill9)
        killer.start()
        relays[1].stream([storm_alert(1, j) for j in range(half, per[1])],
                         acked[1])
        killer.join()
        relays[1].start()
        missing = [storm_alert(1, j) for j in range(per[1])
                   if "r1/n%d" % j not in set(acked[1])]
        relays[1].stream(missing, acked[1])
        for t in threads:
            t.join(60)
        assert all(len(set(a)) == p for a, p in zip(acked, per)), \
            [len(a) for a in acked]
        time.sleep(1)
        for r in relays:
            p = r.status()["relay"]["peers"][cl.urls[0]]
            assert p["state"] != "ok" and p["queue"] > 0, p
        cl[0].start()  # back: the relays give it its backlog
        # the edge restarts in mid-storm too
        edge.stop()
        edge.start()

        def all_visible():
            c = count_titles(titles_in(edge), titles)
            return all(c.values())
        wait_until(all_visible, 240, 1.0, "all %d alerts in the chat" % N)
        took = time.monotonic() - t0
        # a while more: late copies from either peer must not show
        time.sleep(5)
        c = count_titles(titles_in(edge), titles)
        twice = {t: n for t, n in c.items() if n != 1}
        assert not twice, "not exactly once: %r" % list(twice.items())[:10]
        st = edge.emu.stats()
        msgs = len(edge.emu.messages(GROUP))
        # A restarted edge does not know when it last sent to the chat:
        # its first message may come within the chat's second (one 429,
        # obeyed). Nothing else may draw one.
        assert st.get("rate_limited", 0) <= 1, st
        # every relay's queue drained to both peers
        for r in relays:
            wait_until(lambda: all(p["queue"] == 0 for p in
                                   r.status()["relay"]["peers"].values()),
                       60, 0.5, "relay %s queues empty" % r.name)
            peers = r.status()["relay"]["peers"]
            assert set(peers) == set(cl.urls), peers
            assert all(p["state"] == "ok" for p in peers.values()), peers
        if os.environ.get("FLEET_BENCH"):
            print("FLEET storm: %d alerts, 3 relays, 2 AM peers: all visible "
                  "in %.1f s, %d messages, %d x 429" %
                  (N, took, msgs, st.get("rate_limited", 0)))

        # Resolutions edit their messages: three alerts sent on their own
        # (the backlog is gone), then resolved through the fleet.
        late = [{"key": "late/%d" % k, "title": "late one %d" % k,
                 "severity": "critical", "source": "web0"} for k in range(3)]
        for k, a in enumerate(late):  # one at a time: none is packed
            relays[0].stream([a], [])
            wait_until(lambda: any(("late one %d" % k) in t
                                   for t in titles_in(edge)), 60, 0.2,
                       "late alert %d" % k)
        relays[0].stream([{"key": a["key"], "status": "resolved",
                           "text": "fixed"} for a in late], [])

        def edited():
            ms = edge.emu.messages(GROUP)
            return all(any(("late one %d" % k) in (m["edits"][0][
                "previous_text"] if m["edits"] else "") and m["edits"]
                for m in ms) for k in range(3))
        wait_until(edited, 60, 0.5, "resolutions edit their messages")
        for m in edge.emu.messages(GROUP):
            if m["edits"] and "late one" in m["edits"][0]["previous_text"]:
                assert "resolved" in m["text"].lower(), m["text"]
        # each resolution is told once, whichever peers sent it
        time.sleep(4)
        for k in range(3):
            notes = [m for m in edge.emu.messages(GROUP)
                     if ("late one %d" % k) in m["text"] and not m["edits"]]
            assert len(notes) <= 1, [m["text"] for m in notes]
    finally:
        try:
            for r in relays:
                r.close()
        finally:
            if edge:
                edge.close()
            cl.close()

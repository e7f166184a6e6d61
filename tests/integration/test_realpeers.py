"""Self-tests of realpeers.py: the real Alertmanager and Prometheus binaries
run on loopback and do what opsbot's tests will rely on. None of these
needs opsbot's HTTP intake; a tiny Python receiver or /metrics stands in.

OPSBOT_CAPTURE_FIXTURES=1 rewrites tests/fixtures/alertmanager_real_*.json
from what the binary sent; otherwise the test checks that the stored
fixtures still have the shape this Alertmanager sends.
"""
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import GROUP, ROOT, TOKEN, Harness
from realpeers import (Alertmanager, AlertmanagerCluster, Prometheus,
                       WebhookSink, am_alert, require_alertmanager,
                       require_prometheus, rfc3339, telegram_receiver,
                       wait_until)

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
HOOK_TOKEN = "hook-token-for-tests"
GEN_URL = ("http://prometheus.example:9090/graph?g0.expr=node_filesystem_"
           "avail_bytes%20%3C%201e9&g0.tab=1")


def _disk_alerts(starts_at, resolved=False):
    return [am_alert("DiskFull", resolved=resolved, starts_at=starts_at,
                     generator_url=GEN_URL, instance="db%d:9100" % i,
                     job="node", severity=sev,
                     annotations={"summary": "Disk almost full on db%d" % i,
                                  "description": "/var has %d%% left" % (i + 2),
                                  "runbook_url":
                                  "https://runbooks.example/disk-full"})
            for i, sev in ((1, "critical"), (2, "warning"))]


def _shape(payload):
    """Keys of the payload and of its alerts: what a parser depends on."""
    return (sorted(payload), sorted({k for a in payload["alerts"]
                                     for k in a}))


def _check_fixture(name, live):
    path = os.path.join(FIXTURES, name)
    if os.environ.get("OPSBOT_CAPTURE_FIXTURES") == "1":
        os.makedirs(FIXTURES, exist_ok=True)
        with open(path, "w") as f:
            json.dump(live, f, indent=2)
            f.write("\n")
    with open(path) as f:
        stored = json.load(f)
    assert _shape(stored) == _shape(live), (name, _shape(stored),
                                            _shape(live))
    assert stored["version"] == live["version"] == "4"


def test_am_webhook_firing_then_resolved():
    require_alertmanager()
    with WebhookSink() as sink, \
            Alertmanager(sink.url, bearer_token=HOOK_TOKEN) as am:
        started = rfc3339(time.time() - 60)  # as Prometheus: fired earlier
        am.post_alerts(_disk_alerts(started))
        assert len(am.alerts()) == 2
        firing = sink.wait_for(lambda b: b.get("status") == "firing" and
                               len(b["alerts"]) == 2)
        hdr = sink.received[0]["headers"]
        assert hdr.get("Authorization") == "Bearer " + HOOK_TOKEN, hdr
        assert firing["version"] == "4" and firing["receiver"] == "main"
        assert firing["externalURL"] == am.url, firing["externalURL"]
        assert firing["groupLabels"] == {"alertname": "DiskFull"}
        by_inst = {a["labels"]["instance"]: a for a in firing["alerts"]}
        assert set(by_inst) == {"db1:9100", "db2:9100"}, by_inst
        a1 = by_inst["db1:9100"]
        assert a1["status"] == "firing"
        assert a1["labels"]["severity"] == "critical"
        assert a1["annotations"]["summary"] == "Disk almost full on db1"
        assert a1["generatorURL"] == GEN_URL
        assert a1["endsAt"].startswith("0001-01-01"), a1["endsAt"]
        assert len(a1["fingerprint"]) == 16, a1

        am.post_alerts(_disk_alerts(started, resolved=True))
        resolved = sink.wait_for(lambda b: b.get("status") == "resolved")
        assert {a["status"] for a in resolved["alerts"]} == {"resolved"}
        # the same fingerprints: a resolution names the alert it fired as
        assert sorted(a["fingerprint"] for a in resolved["alerts"]) == \
            sorted(a["fingerprint"] for a in firing["alerts"])
        for a in resolved["alerts"]:
            assert not a["endsAt"].startswith("0001"), a
            assert a["startsAt"][:19] == started[:19], (a, started)
        _check_fixture("alertmanager_real_firing.json", firing)
        _check_fixture("alertmanager_real_resolved.json", resolved)


def test_am_webhook_refused_then_fixed_is_sent_again():
    # What the intake's 401 test relies on: Alertmanager 0.25 does not
    # retry a 4xx within a notification, but the group's next flush
    # (group_interval) sends again, since nothing was logged as sent.
    require_alertmanager()
    with WebhookSink(status=401) as sink, \
            Alertmanager(sink.url, bearer_token="wrong") as am:
        am.post_alerts([am_alert("Refused", instance="r1")])
        wait_until(lambda: len(sink.received) >= 2, 10, "two refused posts")
        sink.status = 200
        wait_until(lambda: any(r["answered"] == 200 for r in sink.received),
                   10, "a post after the fix")
        assert all(r["body"]["alerts"][0]["labels"]["alertname"] == "Refused"
                   for r in sink.received)
        am.reload()  # the helper rewrites and reloads the same config
        assert am.running()


def test_am_cluster_of_two_forms_and_gossips_silences():
    require_alertmanager()
    with WebhookSink() as sink, AlertmanagerCluster(2, webhook_url=sink.url) \
            as c:
        for p in c.peers:
            st = p.status()["cluster"]
            assert st["status"] == "ready" and len(st["peers"]) == 2, st
        sid = c[0].post_silence({"alertname": "Gossip"}, 600)
        wait_until(lambda: any(s["id"] == sid for s in c[1].silences()), 10,
                   "the silence gossiped to the second peer")
        # an alert posted to both peers is notified once
        c.post_alerts([am_alert("Both", instance="x")])
        sink.wait_for(lambda b: b["alerts"][0]["labels"]["alertname"] ==
                      "Both")
        assert len(c[0].alerts()) == len(c[1].alerts()) == 1


def test_am_telegram_config_into_emulator():
    require_alertmanager()
    h = Harness("am-tg")  # the emulator only: no opsbot daemon
    try:
        tg = telegram_receiver(h.emu.api_url, TOKEN, GROUP)
        with Alertmanager(telegram=tg) as am:
            am.post_alerts([am_alert("QueueStuck", instance="mq1",
                                     annotations={"summary": "a < b & c"})])
            msgs = h.emu.wait_messages(1, GROUP, timeout=15)
            assert "QueueStuck" in msgs[0]["text"], msgs[0]
            # Alertmanager escapes its template for HTML parse mode
            assert "summary = a < b & c" in msgs[0]["text"], msgs[0]
            assert msgs[0]["parse_mode"] == "HTML"
            am.post_alerts([am_alert("QueueStuck", resolved=True,
                                     instance="mq1",
                                     annotations={"summary": "a < b & c"})])
            msgs = h.emu.wait_messages(2, GROUP, timeout=15)
            assert msgs[1]["text"].startswith("Alerts Resolved:"), msgs[1]
            st = h.emu.stats()
            assert st.get("html_errors", 0) == 0, st
            assert "TESTSECRET" not in am.log()
    finally:
        h.close()


class _Metrics(BaseHTTPRequestHandler):
    BODY = (b"# HELP opsbot_queue_depth Deliveries not yet finished.\n"
            b"# TYPE opsbot_queue_depth gauge\nopsbot_queue_depth 7\n")

    def do_GET(self):
        ok = self.path == "/metrics"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.BODY) if ok else 0))
        self.end_headers()
        if ok:
            self.wfile.write(self.BODY)

    def log_message(self, *a):
        pass


def test_prometheus_scrapes_a_metrics_endpoint():
    require_prometheus()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        target = "127.0.0.1:%d" % srv.server_address[1]
        with Prometheus([target]) as prom:
            # Prometheus applies new targets every 5 s: allow for that
            r = prom.wait_for('up{job="opsbot"}', lambda r: r, 20)
            assert r[0][0]["instance"] == target and r[0][1] == "1", r
            q = prom.query("opsbot_queue_depth")
            assert q and q[0][1] == "7", q
    finally:
        srv.shutdown()
        srv.server_close()

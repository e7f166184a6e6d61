"""/metrics end to end (issue "Observability"): the figures move with what
happened (deliveries, a refused line, a 429, an outage and its recovery),
`promtool check metrics` accepts the exposition, a REAL Prometheus scrapes
opsbot and its query API sees the queue grow in an outage and drain after
it, and the delivery counters, facts in the store, survive a restart.

Budget: about 40 s for the file; every wait is bounded.
"""
import json
import os
import shutil
import subprocess

from harness import GROUP, ROOT, Harness, wait_until
from marks import Skip
from realpeers import (HOST, Prometheus, free_port, http_json,
                       require_prometheus)
from states import DS_FAILED, DS_SENT

FAST_RETRY = "retry = { base = 0.2; cap = 1.0; breaker_threshold = 3; };\n"
GONE = -1001000000999  # a chat the emulator says does not exist
ROUTE_GONE = 'routes = ( { source = "gone"; chats = [ %dL ]; } );\n' % GONE
PROMTOOL = os.environ.get("PROMTOOL_BIN", shutil.which("promtool") or
                          "/usr/bin/promtool")


# ------------------------------------------------------------------ helpers

def start(name, extra_conf=FAST_RETRY, h=None):
    """A daemon with the HTTP intake (loopback, no token): (h, base)."""
    port = free_port()
    h = h or Harness(name, extra_conf="")
    h.extra_conf = 'http = { listen = "%s:%d"; };\n%s' % (HOST, port,
                                                          extra_conf)
    h.write_conf()
    base = "http://%s:%d" % (HOST, port)
    try:
        h.start()
        wait_until(lambda: scrape(base, quiet=True) is not None, 10,
                   what="/metrics")
    except BaseException:
        h.close()
        raise
    return h, base


def scrape(base, quiet=False):
    """The exposition text, or None (quiet) when nothing answers."""
    try:
        st, text = http_json("GET", base + "/metrics", timeout=5)
    except OSError:
        if quiet:
            return None
        raise
    assert st == 200, (st, text)
    return text


def samples(text):
    """{'name{labels}': float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def value(base, key):
    return samples(scrape(base)).get(key)


def promtool_check(text):
    if not os.access(PROMTOOL, os.X_OK):
        if os.environ.get("OPSBOT_REQUIRE_PEERS") == "1":
            raise AssertionError("promtool not found")
        raise Skip("promtool not found: install the Debian package "
                   "prometheus")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not p.stdout.strip() and \
        not p.stderr.strip(), "promtool check metrics: rc %d\n%s%s" % (
            p.returncode, p.stdout, p.stderr)


def sent_rows(h):
    return h.sql("SELECT COUNT(*) FROM deliveries WHERE state=?",
                 (DS_SENT,))[0][0]


SENT = 'opsbot_deliveries_total{result="sent"}'
FAILED = 'opsbot_deliveries_total{result="failed"}'
DEPTH = "opsbot_queue_depth"
OLDEST = "opsbot_oldest_pending_seconds"


# ------------------------------------------------------------------ tests

def test_figures_follow_a_mixed_run_and_promtool_accepts_them():
    h, base = start("metrics-mixed")
    try:
        m0 = samples(scrape(base))
        promtool_check(scrape(base))
        assert m0[SENT] == 0 and m0[DEPTH] == 0 and m0[OLDEST] == 0, m0

        # five deliveries count five
        ids = h.send_many([{"severity": "info", "title": "five %d" % i}
                           for i in range(5)])
        wait_until(lambda: sent_rows(h) == 5, 20, what="five sent")
        m = samples(scrape(base))
        assert m[SENT] == 5, m[SENT]
        assert m['opsbot_alerts_received_total{transport="socket",'
                 'result="accepted"}'] == 5
        assert m["opsbot_delivery_attempts_count"] == 5
        assert m['opsbot_delivery_attempts_bucket{le="1"}'] == 5
        assert m["opsbot_delivery_latency_seconds_count"] == 5
        assert m[DEPTH] == 0 and m[OLDEST] == 0, (m[DEPTH], m[OLDEST])
        assert len(ids) == 5

        # a refused line
        assert h.send({"severity": "apocalyptic", "text": "x"})["ok"] is \
            False
        assert value(base, 'opsbot_alerts_received_total{transport='
                     '"socket",result="refused"}') == 1

        # a 429 from Telegram: one retry for that reason, then sent
        h.emu.fault("429", count=1, retry_after=1, methods=["sendMessage"])
        h.send({"severity": "warning", "title": "after a 429"})
        wait_until(lambda: sent_rows(h) == 6, 20, what="sent after the 429")
        m = samples(scrape(base))
        assert m["opsbot_telegram_429_total"] == 1, m
        assert m['opsbot_retries_total{reason="429"}'] == 1
        assert m["opsbot_telegram_retry_after_seconds_total"] == 1
        assert m['opsbot_telegram_requests_total{method="sendMessage",'
                 'code="429"}'] == 1
        assert m[SENT] == 6
        assert m['opsbot_delivery_attempts_bucket{le="1"}'] == 5
        assert m['opsbot_delivery_attempts_bucket{le="2"}'] == 6

        # an outage: the queue grows and ages; recovery drains it to 0
        h.emu.fault("down", seconds=120, methods=["sendMessage"])
        h.send_many([{"severity": "error", "title": "outage %d" % i}
                     for i in range(3)])
        net = 'opsbot_retries_total{reason="network"}'

        def outage_seen():
            m = samples(scrape(base))
            return m[DEPTH] == 3 and m[OLDEST] >= 1.0 and m[net] >= 1 and m
        m = wait_until(outage_seen, 30, what="queue depth 3, oldest pending "
                       ">= 1 s, a network retry")
        assert m[SENT] == 6
        promtool_check(scrape(base))
        h.emu.clear_faults()
        wait_until(lambda: value(base, DEPTH) == 0, 30,
                   what="the queue drained after the outage")
        final = scrape(base)
        m = samples(final)
        assert m[OLDEST] == 0, m[OLDEST]
        assert m[SENT] == 9 == sent_rows(h), m[SENT]
        assert m[FAILED] == 0
        promtool_check(final)
    finally:
        h.close()


def test_prometheus_queries_queue_depth_during_an_outage_and_after():
    require_prometheus()
    h, base = start("metrics-prom")
    rules = os.path.join(ROOT, "contrib", "opsbot.rules.yml")
    try:
        target = base.split("//", 1)[1]
        with Prometheus([target], rules_files=[rules]) as prom:
            # Prometheus applies new targets within 5 s
            prom.wait_for('up{job="opsbot"}', lambda r: r and r[0][1] == "1",
                          25)
            prom.wait_for(DEPTH, lambda r: r and r[0][1] == "0", 10)
            h.emu.fault("down", seconds=120, methods=["sendMessage"])
            h.send_many([{"severity": "error", "title": "down %d" % i}
                         for i in range(4)])
            r = prom.wait_for(DEPTH, lambda r: r and float(r[0][1]) == 4,
                              20)
            assert r[0][0]["instance"] == target, r
            prom.wait_for(OLDEST, lambda r: r and float(r[0][1]) > 0, 10)
            h.emu.clear_faults()
            prom.wait_for(DEPTH, lambda r: r and r[0][1] == "0", 30)
            prom.wait_for(OLDEST, lambda r: r and r[0][1] == "0", 10)
            prom.wait_for('opsbot_deliveries_total{result="sent"}',
                          lambda r: r and r[0][1] == "4", 10)
            # the shipped rules load and evaluate without errors
            st, rr = http_json("GET", prom.url + "/api/v1/rules")
            assert st == 200, (st, rr)
            got = [x for g in rr["data"]["groups"] for x in g["rules"]]
            assert {x["name"] for x in got} >= {
                "OpsbotQueueStuck", "OpsbotApiPaused", "OpsbotBreakerOpen",
                "OpsbotChatsFailed", "OpsbotDown"}, got
            wait_until(lambda: all(x.get("health") == "ok" for x in [
                y for g in http_json("GET", prom.url + "/api/v1/rules")[1]
                ["data"]["groups"] for y in g["rules"]]), 10,
                what="every rule evaluated ok")
    finally:
        h.close()


def test_delivery_counters_survive_a_restart():
    # Deliveries by result are facts in the store: seeded at start.
    # Process-local counters (alerts received) start at 0 again.
    h, base = start("metrics-restart", extra_conf=FAST_RETRY + ROUTE_GONE)
    try:
        h.emu.chat(GONE, behaviour="not_found")
        h.send_many([{"title": "kept %d" % i} for i in range(3)])
        h.send({"source": "gone", "title": "to a chat that is gone"})
        wait_until(lambda: sent_rows(h) == 3 and h.sql(
            "SELECT COUNT(*) FROM deliveries WHERE state=?",
            (DS_FAILED,))[0][0] == 1, 20, what="3 sent, 1 failed")
        m = samples(scrape(base))
        assert (m[SENT], m[FAILED]) == (3, 1), (m[SENT], m[FAILED])
        assert m["opsbot_chats_failed"] == 1
        h.stop()
        h, base = start("metrics-restart", extra_conf=FAST_RETRY +
                        ROUTE_GONE, h=h)
        m = samples(scrape(base))
        assert (m[SENT], m[FAILED]) == (3, 1), (m[SENT], m[FAILED])
        assert m['opsbot_alerts_received_total{transport="socket",'
                 'result="accepted"}'] == 0
        # and they count on from there
        h.send({"title": "one more"})
        wait_until(lambda: value(base, SENT) == 4, 20, what="sent 4")
        assert json.loads(h.cli("status", "--json").stdout)["status"][
            "queue"]["sent"] == 4
    finally:
        h.close()

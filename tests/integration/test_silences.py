"""Silences from the chat (issue 12) against the REAL Alertmanager 0.25:
alerts come in through Alertmanager's webhook into opsbot's HTTP intake,
the Mute button and /mute #ID create a silence through API v2, /unmute sN
expires it, /mutes reads it back; a stranger's press creates nothing; a
cluster with one peer down still gets the silence; an Alertmanager that
does not answer gets the operator a reply within the request timeout
while alerts keep flowing."""
import json
import os
import socket
import threading
import time

from harness import ADMIN, GROUP, ROOT, Harness, wait_until
from realpeers import (Alertmanager, AlertmanagerCluster, am_alert,
                       free_port, http_json, opsbot_http_conf,
                       require_alertmanager)

STRANGER = 999
FIXTURE = os.path.join(ROOT, "tests", "fixtures",
                       "alertmanager_real_firing.json")


def am_section(urls, timeout=10, extra=""):
    return ('alertmanager = {\n  urls = [ %s ];\n  connect_timeout = 2;\n'
            '  timeout = %d;\n%s};\n' % (", ".join('"%s"' % u for u in urls),
                                          timeout, extra))


def edge(name, am_urls, http_port, timeout=10, extra=""):
    h = Harness(name, extra_conf=opsbot_http_conf(http_port) +
                am_section(am_urls, timeout, extra))
    h.start()
    wait_until(lambda: h.emu.commands(), 10, what="setMyCommands")
    return h


def hook_url(port):
    return "http://127.0.0.1:%d/api/v1/alertmanager" % port


def alert_message(h, title):
    """The first message in GROUP about title, with its buttons."""
    def find():
        return [m for m in h.emu.messages(GROUP) if title in m["text"] and
                m.get("reply_markup")]
    return wait_until(find, 20, what="alert %r in the chat" % title)[0]


def press(h, m, what, user=ADMIN):
    data = [b["callback_data"] for row in m["reply_markup"]["inline_keyboard"]
            for b in row if b["callback_data"].startswith(what + ":")][0]
    cb = h.emu.callback(data, from_id=user, chat_id=GROUP,
                        message_id=m["message_id"],
                        username="alice" if user == ADMIN else "mallory")
    qid = cb["callback_query_id"]
    return wait_until(lambda: [c for c in h.emu.callbacks()
                               if c.get("callback_query_id") == qid], 10,
                      what="callback answered")[0]


def replies(h, needle, since=0):
    return [m for m in h.emu.messages(GROUP)
            if m["message_id"] > since and needle in m["text"]]


def ask(h, text, needle, timeout=15):
    before = max([m["message_id"] for m in h.emu.messages(GROUP)] or [0])
    h.emu.update(text, from_id=ADMIN, chat_id=GROUP, username="alice")
    return wait_until(lambda: replies(h, needle, before), timeout,
                      what="reply to %s with %r" % (text, needle))[0]


def am_key_rows(h, instance):
    """Alerts opsbot stored from Alertmanager for this instance (the
    original and every re-notification)."""
    return h.sql("SELECT count(*) FROM alerts WHERE meta LIKE ?",
                 ("%%\"instance\":\"%s\"%%" % instance,))[0][0]


def ours(silences):
    return [s for s in silences if "opsbot" in s["comment"]]


def test_mute_button_silences_in_alertmanager_and_unmute_expires():
    require_alertmanager()
    port = free_port()
    am = Alertmanager(hook_url(port), repeat_interval="2s",
                      group_interval="1s")
    h = None
    try:
        h = edge("silence", [am.url], port)
        am.post_alerts([am_alert("DiskFull", instance="db1:9100",
                                 job="node", severity="critical",
                                 annotations={"summary": "Disk full db1"})])
        m = alert_message(h, "Disk full db1")
        # Alertmanager re-notifies every ~2 s while nothing silences it.
        wait_until(lambda: am_key_rows(h, "db1:9100") >= 3, 20,
                   what="re-notifications before the silence")
        t0 = time.time()
        ans = press(h, m, "mute")
        assert "Alertmanager" in (ans.get("text") or ""), ans
        sil = wait_until(lambda: ours(am.silences()), 10,
                         what="a silence in Alertmanager")
        assert len(sil) == 1, sil
        s = sil[0]
        assert s["status"]["state"] == "active", s
        assert sorted((x["name"], x["value"], x["isRegex"], x["isEqual"])
                      for x in s["matchers"]) == [
            ("alertname", "DiskFull", False, True),
            ("instance", "db1:9100", False, True)], s["matchers"]
        ends = time.mktime(time.strptime(s["endsAt"][:19],
                                         "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(ends - (t0 + 3600)) < 60, (s["endsAt"], t0)
        assert "alice" in s["createdBy"] and str(ADMIN) in s["createdBy"], s
        assert "opsbot" in s["comment"] and str(GROUP) in s["comment"], s
        r = wait_until(lambda: replies(h, "Silenced in Alertmanager"), 10,
                       what="the reply")[0]
        assert 'alertname="DiskFull"' in r["text"], r["text"]
        assert "/unmute s1" in r["text"], r["text"]
        assert "%s/#/silences/%s" % (am.url, s["id"]) in r["html"], r["html"]

        # Alertmanager stops re-notifying the silenced alert.
        time.sleep(1.5)  # a notification already on its way may land
        n = am_key_rows(h, "db1:9100")
        time.sleep(6)
        assert am_key_rows(h, "db1:9100") == n, "re-notified while silenced"

        t = ask(h, "/mutes", "silences by opsbot")["text"]
        assert "s1" in t and "active" in t and "DiskFull" in t, t

        t = ask(h, "/unmute s1", "Silence s1")["text"]
        assert "expired in Alertmanager" in t, t
        s = [x for x in am.silences() if x["id"] == s["id"]][0]
        assert s["status"]["state"] == "expired", s
        # and the notifications come back
        wait_until(lambda: am_key_rows(h, "db1:9100") > n, 15,
                   what="notifications after the silence expired")
        assert h.sql("SELECT gone FROM silences WHERE id = 1") == [(1,)]
    finally:
        if h:
            h.close()
        am.close()


def test_stranger_press_creates_no_silence_and_socket_alerts_mute_locally():
    require_alertmanager()
    port = free_port()
    am = Alertmanager(hook_url(port))
    h = None
    try:
        h = edge("silence-stranger", [am.url], port)
        am.post_alerts([am_alert("DiskFull", instance="db9:9100",
                                 severity="critical",
                                 annotations={"summary": "Disk full db9"})])
        m = alert_message(h, "Disk full db9")
        ans = press(h, m, "mute", user=STRANGER)
        assert "not authorised" in (ans.get("text") or ""), ans
        time.sleep(1.0)
        assert am.silences() == [], am.silences()
        assert h.sql("SELECT count(*) FROM silences") == [(0,)]
        # an alert from the socket keeps today's local mute
        h.send({"severity": "critical", "title": "Local boom",
                "source": "web1"})
        m = alert_message(h, "Local boom")
        ans = press(h, m, "mute")
        assert "muted for 1h" in (ans.get("text") or ""), ans
        assert h.sql("SELECT source FROM mutes") == [("web1",)]
        assert am.silences() == []
    finally:
        if h:
            h.close()
        am.close()


def test_cluster_with_one_peer_down_still_gets_the_silence():
    require_alertmanager()
    port = free_port()
    cl = AlertmanagerCluster(2, webhook_url=hook_url(port))
    h = None
    try:
        h = edge("silence-cluster", cl.urls, port)
        cl.post_alerts([am_alert("LoadHigh", instance="web3:9100",
                                 severity="critical",
                                 annotations={"summary": "Load high web3"})])
        m = alert_message(h, "Load high web3")
        cl[0].kill()  # the first peer opsbot tries is down
        ans = press(h, m, "mute")
        assert "Alertmanager" in (ans.get("text") or ""), ans
        sil = wait_until(lambda: ours(cl[1].silences()), 15,
                         what="a silence on the surviving peer")
        assert {x["name"]: x["value"] for x in sil[0]["matchers"]} == {
            "alertname": "LoadHigh", "instance": "web3:9100"}
        r = wait_until(lambda: replies(h, "Silenced in Alertmanager"), 10,
                       what="the reply")[0]
        assert "/unmute s1" in r["text"], r["text"]
        assert h.sql("SELECT peer FROM silences") == [(cl[1].url,)]
        # /mute DURATION #ID does the same for another alert
        aid = h.sql("SELECT id FROM alerts WHERE title = 'Load high web3'"
                    " ORDER BY id LIMIT 1")[0][0]
        t = ask(h, "/mute 30m #%d" % aid, "Silenced")["text"]
        assert "30m" in t and "/unmute s2" in t, t
        assert len(ours(cl[1].silences())) == 2
    finally:
        if h:
            h.close()
        cl.close()


class BlackHole:
    """Accepts TCP connections on loopback and never answers."""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(16)
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.s.getsockname()[1]

    def run(self):
        self.s.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.s.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.s.close()


def test_alertmanager_down_replies_within_timeout_and_deliveries_go_on():
    port = free_port()
    hole = BlackHole()
    refused = "http://127.0.0.1:%d" % free_port()  # nothing listens
    h = None
    try:
        h = edge("silence-down", [refused, hole.url], port, timeout=3)
        with open(FIXTURE) as f:
            payload = json.load(f)
        st, r = http_json("POST", hook_url(port), payload)
        assert st == 200 and r["ok"], (st, r)
        m = alert_message(h, payload["alerts"][0]["annotations"]["summary"])
        t0 = time.monotonic()
        ans = press(h, m, "mute")
        assert "Alertmanager" in (ans.get("text") or ""), ans
        # The loop keeps delivering while the request hangs.
        for i in range(3):
            h.send({"severity": "warning", "title": "meanwhile %d" % i})
        wait_until(lambda: all(replies(h, "meanwhile %d" % i)
                               for i in range(3)), 3,
                   what="alerts delivered while Alertmanager hangs")
        assert time.monotonic() - t0 < 3, "deliveries waited on Alertmanager"
        r = wait_until(lambda: replies(h, "did not create the silence"), 10,
                       what="the failure reply")[0]
        took = time.monotonic() - t0
        assert took < 3 + 2.5, "reply after %.1f s" % took
        assert refused in r["text"] and hole.url in r["text"], r["text"]
        assert "nothing was silenced" in r["text"], r["text"]
        assert "imed out" in r["text"], r["text"]  # curl: "Operation timed out"
        assert h.sql("SELECT count(*) FROM silences") == [(0,)]
    finally:
        if h:
            h.close()
        hole.close()

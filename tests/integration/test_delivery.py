"""Delivery to Telegram end to end, against the strict emulator."""
import json
import time

from harness import GROUP, Harness, wait_until
from states import DF_PLAIN, DS_FAILED, DS_SENT, DS_SUPPRESSED

HOSTILE = [
    "<script>alert(1)</script>", "</b></i>", "&amp; &lt; & < >", "a & b",
    '"><a href="x">', "<br>", "line1\nline2\n\nline4", "emoji 🔥🚒 ok",
    "\u202eRTL override", "tab\there", "&#1234; &#x41;", "&nbsp;", "<<<<>>>>",
    "x" * 5000, ("🔥" * 3000), "<pre><code>", "`code` *bold* _it_",
]


def visible(h, chat=None):
    return "\n".join(m["text"] for m in h.emu.messages(chat))


def test_every_severity_and_hostile_input_passes_strict_validator():
    # This test is about HTML, not pacing: both sides allow a faster rate.
    h = Harness("sev", extra_conf="delivery = { pack = false; };\n"
                "limits = { chat_per_second = 8.0; group_per_minute = 600; };")
    try:
        h.emu.config(chat_rate=10.0, chat_burst=10, group_per_minute=1000)
        h.start()
        alerts = [{"severity": s, "title": "sev %s" % s, "text": "t",
                   "source": "src", "key": "k-" + s,
                   "labels": {"env": "prod"}, "url": "https://x.example/?a=1&b=2"}
                  for s in ("critical", "error", "warning", "info", "debug")]
        for i, t in enumerate(HOSTILE):
            alerts.append({"title": t[:200], "text": t, "source": t[:60],
                           "key": "h%d" % i, "labels": {"l": t[:120]}})
        ids = h.send_many(alerts)

        def done():
            rows = h.sql("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
            return dict(rows).get(DS_SENT, 0) == len(ids) and rows
        wait_until(done, 90, 0.2, "all delivered")
        st = h.emu.stats()
        assert st.get("html_errors", 0) == 0, st
        assert st.get("rate_limited", 0) == 0, st
        # no plain-text fallback was needed: our HTML was accepted as is
        plain = h.sql("SELECT COUNT(*) FROM deliveries WHERE flags & ?",
                      (DF_PLAIN,))
        assert plain[0][0] == 0
        msgs = h.emu.messages()
        sev_msgs = [m for m in msgs if m["text"].split("\n")[0].count("sev ")]
        assert len(sev_msgs) == 5
        for m, mark in zip(sev_msgs, ["🔴", "🟠", "🟡", "🔵", "⚪"]):
            assert m["text"].startswith(mark), m["text"][:40]
        # critical and error ring, the rest are silent
        silent = {m["text"].split("sev ")[1].split("\n")[0]: m["silent"]
                  for m in sev_msgs}
        assert silent == {"critical": False, "error": False,
                          "warning": True, "info": True, "debug": True}, silent
        # hostile text arrives verbatim as visible text
        allvis = visible(h)
        for t in ("<script>alert(1)</script>", "a & b", "&nbsp;", "<br>"):
            assert t in allvis, t
    finally:
        h.close()


def test_storm_of_1000_into_one_supergroup_all_visible_no_429():
    h = Harness("storm")
    try:
        h.start()
        t0 = time.monotonic()
        ids = h.send_many([{"severity": ["critical", "warning"][i % 2],
                          "source": "web%d" % (i % 13),
                          "title": "Probe %d failed" % i,
                          "text": "timeout after 5 s"} for i in range(1000)])

        def all_visible():
            v = visible(h)
            return all(("#%d" % i) in v for i in ids)
        wait_until(all_visible, 60, 0.25, "storm fully visible")
        took = time.monotonic() - t0
        st = h.emu.stats()
        assert st.get("rate_limited", 0) == 0, st
        # fully visible within 20 s: the packs fit one minute's allowance
        # of a group (17 alert messages; 3 are kept for replies)
        assert took <= 20, took
        n = len(h.emu.messages())
        assert n <= 17, "storm used %d messages" % n
        sent = h.sql("SELECT COUNT(*) FROM deliveries WHERE state=? "
                     "AND message_id IS NOT NULL", (DS_SENT,))
        assert sent[0][0] == 1000
    finally:
        h.close()


def test_injected_429_is_obeyed_to_the_second():
    h = Harness("429", extra_conf="delivery = { pack = false; };")
    try:
        h.start()
        h.emu.fault("429", count=1, retry_after=3, methods=["sendMessage"])
        t0 = time.monotonic()
        h.send_many([{"title": "a%d" % i, "text": "x"} for i in range(3)])
        wait_until(lambda: len(h.emu.messages()) >= 3, 30, what="delivered")
        took = time.monotonic() - t0
        st = h.emu.stats()
        assert st.get("early", 0) == 0, st
        assert took >= 3.0, took
        reqs = [r for r in h.emu.requests("sendMessage")]
        first429 = [r for r in reqs if r["status"] == 429][0]
        after = [r for r in reqs if r["time_ms"] > first429["time_ms"]]
        assert after and after[0]["time_ms"] - first429["time_ms"] >= 3000, \
            (first429, after[:1])
    finally:
        h.close()


def test_outage_of_20s_breaker_opens_and_all_delivered_after():
    h = Harness("outage", extra_conf="retry = { base = 0.5; cap = 5.0; "
                "breaker_threshold = 3; };")
    try:
        h.start()
        h.emu.fault("down", seconds=20)
        t0 = time.monotonic()
        ids = h.send_many([{"severity": "error", "title": "o%d" % i,
                          "text": "during outage"} for i in range(10)])
        wait_until(lambda: '"open"' in h.cli("status", "--json").stdout or
                   '"half-open"' in h.cli("status", "--json").stdout,
                   20, 0.2, "breaker open")

        def all_there():
            v = visible(h)
            return all(("#%d" % i) in v for i in ids)
        wait_until(all_there, 60, 0.25, "delivered after the outage")
        assert time.monotonic() - t0 >= 19
        st = json.loads(h.cli("status", "--json").stdout)["status"]
        assert st["telegram"]["breaker"] == "closed", st
        v = visible(h)
        assert "unreachable" in v, "no recovery summary"
        reqs = len(h.emu.requests())
        assert reqs < 200, "%d requests during a 20 s outage" % reqs
    finally:
        h.close()


def test_migrated_group_alerts_arrive_at_new_id():
    new = -1009999999999
    h = Harness("migr")
    try:
        h.emu.chat(GROUP, "migrate", migrate_to=new)
        h.start()
        h.send_many([{"title": "m1", "text": "x"}])
        wait_until(lambda: h.emu.messages(new), 15, what="message at new id")
        h.send_many([{"title": "m2", "text": "y"}])
        wait_until(lambda: len(h.emu.messages(new)) >= 2, 15, what="second")
        assert not h.emu.messages(GROUP)
        h.stop()
        h.start()  # the migration is remembered across restarts
        h.send_many([{"title": "m3", "text": "z"}])
        wait_until(lambda: len(h.emu.messages(new)) >= 3, 15, what="third")
    finally:
        h.close()


def test_chat_not_found_fails_destination_and_keeps_alert():
    h = Harness("gone")
    try:
        h.emu.chat(GROUP, "not_found")
        h.start()
        (aid,) = h.send_many([{"title": "lost?", "text": "x"}])
        wait_until(lambda: h.sql("SELECT state, last_error FROM deliveries "
                                 "WHERE alert_id=?", (aid,))[0][0]
                   == DS_FAILED,
                   15, what="delivery failed")
        err = h.sql("SELECT last_error FROM deliveries WHERE alert_id=?",
                    (aid,))[0][0]
        assert "chat not found" in err, err
        st = json.loads(h.cli("status", "--json").stdout)["status"]
        assert st["failed_chats"] and "not found" in \
            st["failed_chats"][0]["reason"], st
        assert "chat not found" in h.log()
    finally:
        h.close()


def test_resolved_alert_edits_original_and_replies_silently():
    h = Harness("resolve")
    try:
        h.start()
        h.send_many([{"severity": "critical", "title": "Disk full",
                    "text": "/var 100%", "key": "disk/var"}])
        first = wait_until(lambda: h.emu.messages(GROUP), 10, what="firing")
        mid = first[0]["message_id"]
        h.send_many([{"severity": "critical", "status": "resolved",
                    "key": "disk/var", "text": "/var 40%"}])

        def edited():
            ms = h.emu.messages(GROUP)
            return [m for m in ms if m["message_id"] == mid and m["edits"]] \
                and len(ms) >= 2 and ms
        ms = wait_until(edited, 15, what="edit and reply")
        orig = [m for m in ms if m["message_id"] == mid][0]
        assert "RESOLVED" in orig["edits"][-1]["text"], orig
        note = [m for m in ms if m["message_id"] != mid][0]
        assert note["reply_to"] == mid and note["silent"], note
    finally:
        h.close()


def test_repeat_within_window_is_not_sent_again():
    h = Harness("repeat")
    try:
        h.start()
        h.send_many([{"severity": "error", "title": "flap", "text": "x",
                    "key": "svc/flap"}])
        wait_until(lambda: h.emu.messages(), 10, what="first")
        ids = h.send_many([{"severity": "error", "title": "flap", "text": "x",
                          "key": "svc/flap"} for _ in range(3)])
        time.sleep(2.5)
        assert len(h.emu.messages()) == 1
        rows = h.sql("SELECT state FROM deliveries WHERE alert_id IN (%s)"
                      % ",".join(map(str, ids)))
        assert all(r[0] == DS_SUPPRESSED for r in rows), rows
        rep = h.sql("SELECT repeats FROM alerts WHERE key='svc/flap' "
                    "AND repeat_of IS NULL")
        assert rep[0][0] == 3, rep
    finally:
        h.close()


def test_5xx_and_garbage_replies_are_retried_not_fatal():
    h = Harness("5xx", extra_conf="retry = { base = 0.2; cap = 1.0; };")
    try:
        h.start()
        h.emu.fault("5xx", count=2, methods=["sendMessage"])
        h.emu.fault("html502", count=1, methods=["sendMessage"])
        h.emu.fault("garbage", count=1, methods=["sendMessage"])
        (aid,) = h.send_many([{"title": "retry me", "text": "x"}])
        wait_until(lambda: h.emu.messages(), 20, what="delivered")
        # Telegram has it; the daemon commits "sent" a moment later
        att = wait_until(lambda: (lambda r: r if r[1] == DS_SENT else None)(
            h.sql("SELECT attempts, state FROM deliveries WHERE alert_id=?",
                  (aid,))[0]), 10, what="delivery recorded as sent")
        assert att[0] == 5, att
        assert h.daemon.poll() is None
    finally:
        h.close()

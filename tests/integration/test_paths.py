"""Less travelled paths end to end: plain-text fallback, a forum topic
that is gone, a refused token, a mute that ends, socket.allowed_uids, and
strangers trying every command and button."""
import os
import re
import time

from harness import ADMIN, GROUP, TOKEN, Harness, wait_until
from states import (DF_NO_THREAD, DF_PLAIN, DS_FAILED, DS_MUTED, DS_PENDING,
                    DS_RETRYING, DS_SENT)

STRANGER = 999
STRANGER2 = 998  # only ever seen in the group
LOST = -1002000000002  # a route's chat the emulator does not know



def row(h, aid, chat=GROUP):
    r = h.sql("SELECT state, flags, attempts, thread_id, last_error, "
              "message_id FROM deliveries WHERE alert_id=? AND chat_id=?",
              (aid, chat))
    return dict(zip(("state", "flags", "attempts", "thread_id",
                     "last_error", "message_id"), r[0])) if r else None


def sent_row(h, aid, chat=GROUP, timeout=10):
    """Waits until the daemon has committed the delivery as sent."""
    return wait_until(lambda: (lambda r: r if r and r["state"] == DS_SENT
                               else None)(row(h, aid, chat)),
                      timeout, what="delivery of #%d recorded as sent" % aid)


def rewrite_conf(h, old, new):
    with open(h.conf) as f:
        conf = f.read()
    assert old in conf, (old, conf)
    with open(h.conf, "w") as f:
        f.write(conf.replace(old, new))


def admin_says(h, text, timeout=10):
    """An admin's command in the private chat; returns the reply's text."""
    before = max([m["message_id"] for m in h.emu.messages(ADMIN)] or [0])
    h.emu.update(text, from_id=ADMIN, chat_id=ADMIN, username="alice")
    ms = wait_until(lambda: [m for m in h.emu.messages(ADMIN)
                             if m["message_id"] > before], timeout,
                    what="reply to %s" % text)
    return ms[0]["text"]


def test_html_refused_is_resent_as_plain_text():
    h = Harness("plain")
    try:
        h.start()
        h.emu.fault("parse_entities", count=1, methods=["sendMessage"])
        aid = h.send({"severity": "error", "title": "Plain <fallback>",
                      "text": "a & b"})["id"]
        m = wait_until(lambda: h.emu.messages(GROUP), 15, what="delivery")
        assert len(m) == 1, m
        m = m[0]
        assert m["parse_mode"] is None, m
        assert "Plain <fallback>" in m["text"] and "a & b" in m["text"], m
        reqs = h.emu.requests("sendMessage")
        assert [r["status"] for r in reqs] == [400, 200], reqs
        assert reqs[0]["outcome"] == "fault:parse_entities", reqs
        r = sent_row(h, aid)
        assert r["flags"] & DF_PLAIN, r
        # the refusal was one attempt, the plain send the second; a sent
        # row carries no error (dispatch clears it on success)
        assert r["attempts"] == 2, r
        assert not r["last_error"], r
        assert r["message_id"] == m["message_id"], (r, m)
        assert "plain text" in h.log(), h.log()
        assert h.emu.stats().get("html_errors", 0) == 0
    finally:
        h.close()


def test_forum_topic_gone_sends_without_thread():
    h = Harness("nothread", extra_conf="routes = ( { source = \"db*\"; "
                "chats = [ %dL ]; thread_id = 42; } );" % GROUP)
    try:
        h.emu.chat(GROUP, "no_thread")
        h.start()
        aid = h.send({"severity": "critical", "source": "db1",
                      "title": "Topic gone", "text": "x"})["id"]
        m = wait_until(lambda: h.emu.messages(GROUP), 15, what="delivery")
        assert len(m) == 1 and "Topic gone" in m[0]["text"], m
        assert m[0]["thread_id"] is None, m
        reqs = h.emu.requests("sendMessage")
        assert reqs[0]["status"] == 400 and "thread not found" in \
            reqs[0]["outcome"], reqs
        r = sent_row(h, aid)
        assert r["flags"] & DF_NO_THREAD, r
        assert not r["flags"] & DF_PLAIN, r
        assert r["thread_id"] == 42, r
        assert r["message_id"] == m[0]["message_id"], (r, m)
    finally:
        h.close()


def test_401_keeps_queue_until_token_fixed():
    digits, secret = TOKEN.split(":", 1)
    wrong = digits + ":WRONGSECRET-" + secret[::-1][:20]
    # No polling: the alert's sendMessage is the first Bot API call, so
    # it meets the 401 itself (a getMe answered first would pause sending
    # before it, and which one wins is a race of milliseconds).
    h = Harness("401", poll_timeout=0)
    try:
        rewrite_conf(h, 'token = "%s";' % TOKEN, 'token = "%s";' % wrong)
        h.start()
        rep = h.send({"severity": "critical", "title": "Behind a bad token",
                      "text": "x"})
        assert rep["ok"], rep
        aid = rep["id"]
        wait_until(lambda: [r for r in h.emu.requests("sendMessage")
                            if r["status"] == 401], 15,
                   what="sendMessage refused with 401")
        wait_until(lambda: re.search(r"(?im)^.*(401|unauthori[sz]ed).*"
                                     r"token.*$", h.log()), 10,
                   what="a loud log line about the token")
        time.sleep(1.5)
        assert not h.emu.messages(), h.emu.messages()
        r = row(h, aid)
        assert r["state"] in (DS_PENDING, DS_RETRYING), r
        loud = [l for l in h.log().splitlines()
                if re.search(r"401|unauthori[sz]ed", l, re.I) and
                "token" in l.lower()]
        assert loud, h.log()
        # at error level, not buried in debug output
        assert any(" error:" in l for l in loud), loud
        wsecret = wrong.split(":", 1)[1]
        assert wsecret not in h.log(), "the (wrong) token was logged"
        # no hammering while the token is wrong
        assert len(h.emu.requests("sendMessage")) <= 2, \
            h.emu.requests("sendMessage")
        h.stop()
        rewrite_conf(h, 'token = "%s";' % wrong, 'token = "%s";' % TOKEN)
        h.start()
        m = wait_until(lambda: h.emu.messages(GROUP), 15,
                       what="delivery once the token is fixed")
        assert len(m) == 1 and "Behind a bad token" in m[0]["text"], m
        sent_row(h, aid)
    finally:
        h.close()


def test_mute_holds_alert_and_ends_with_summary():
    h = Harness("muteend")
    try:
        h.start()
        wait_until(lambda: h.emu.commands(), 10, what="setMyCommands")
        t = admin_says(h, "/mute 3s")
        mid = re.search(r"Mute #(\d+)", t)
        assert mid, t
        mid = int(mid.group(1))
        t0 = time.monotonic()
        aid = h.send({"severity": "critical", "title": "Held back",
                      "text": "x"})["id"]
        r = row(h, aid)
        assert r["state"] == DS_MUTED, r
        assert "muted" in admin_says(h, "/alerts")
        want = "Mute #%d ended: 1 alert(s) were held" % mid
        m = wait_until(lambda: [x for x in h.emu.messages(GROUP)
                                if want in x["text"]], 12,
                       what="the end-of-mute summary")
        assert time.monotonic() - t0 < 12
        assert len(m) == 1, m
        # the held alert itself was not sent
        assert not [x for x in h.emu.messages(GROUP)
                    if "Held back" in x["text"]], h.emu.messages(GROUP)
        assert row(h, aid)["state"] == DS_MUTED
        held = h.sql("SELECT held FROM mutes WHERE id=?", (mid,))
        assert not held or held[0][0] == 1, held
        assert "muted" in admin_says(h, "/alerts")
    finally:
        h.close()


def test_a_short_mute_created_after_a_long_one_ends_on_time():
    """Mutes are kept in id order; the one that ends first may be any."""
    h = Harness("muteorder")
    try:
        h.start()
        wait_until(lambda: h.emu.commands(), 10, what="setMyCommands")
        admin_says(h, "/mute 1h web*")
        t = admin_says(h, "/mute 3s")
        mid = int(re.search(r"Mute #(\d+)", t).group(1))
        h.send({"severity": "critical", "title": "Held", "text": "x"})
        want = "Mute #%d ended: 1 alert(s) were held" % mid
        wait_until(lambda: [x for x in h.emu.messages(GROUP)
                            if want in x["text"]], 12,
                   what="the short mute's end, well before the sweep")
    finally:
        h.close()


def test_socket_allowed_uids():
    me = os.getuid()
    other = me + 1 if me < 60000 else me - 1
    h = Harness("uids")
    try:
        old = 'socket = { path = "%s"; };' % h.sock
        rewrite_conf(h, old, 'socket = { path = "%s"; allowed_uids = '
                     '[ %d ]; };' % (h.sock, other))
        h.start()
        rep = h.send({"title": "not from you", "text": "x"})
        assert rep["ok"] is False and rep["error"].startswith("peer:"), rep
        assert str(me) in rep["error"], rep
        assert re.search(r"uid %d\b" % me, h.log()), h.log()
        p = h.cli("send", "still not from you")
        assert p.returncode == 1 and "peer:" in (p.stdout + p.stderr), p
        assert h.sql("SELECT COUNT(*) FROM alerts")[0][0] == 0
        # the connection survives a refusal: the next line is answered too
        s = h.connect()
        try:
            assert h.send({"title": "a", "text": "x"}, s)["ok"] is False
            assert h.send({"title": "b", "text": "x"}, s)["ok"] is False
        finally:
            s.close()
        h.stop()
        rewrite_conf(h, 'allowed_uids = [ %d ]' % other,
                     'allowed_uids = [ %d, %d ]' % (other, me))
        h.start()
        rep = h.send({"title": "from me", "text": "x"})
        assert rep["ok"] is True, rep
        wait_until(lambda: h.emu.messages(GROUP), 15, what="delivery")
    finally:
        h.close()


def snapshot(h):
    return {
        "alerts": h.sql("SELECT id, acked_by FROM alerts ORDER BY id"),
        "mutes": h.sql("SELECT * FROM mutes ORDER BY id"),
        "deliveries": h.sql("SELECT alert_id, chat_id, state, due_at, "
                            "attempts, flags, message_id FROM deliveries "
                            "ORDER BY alert_id, chat_id"),
    }


def all_confirmed(h, last_update_id):
    st = h.emu.updates_state()
    return st["confirmed_offset"] > last_update_id and \
        last_update_id not in st["pending"]


def test_stranger_changes_nothing_with_any_command_or_button():
    h = Harness("strangers", extra_conf="routes = ( { source = \"lost*\"; "
                "chats = [ %dL ]; } );" % LOST)
    try:
        h.emu.chat(LOST, "not_found")
        h.start()
        cmds = wait_until(lambda: h.emu.commands(), 10, what="setMyCommands")
        names = [c["command"] for c in cmds[-1]["commands"]]
        assert "ack" in names and "mute" in names, names
        # a store worth protecting: a sent alert with buttons, a failed
        # delivery (/retry_now would requeue it), an active mute
        aid = h.send({"severity": "critical", "title": "Boom",
                      "text": "x"})["id"]
        lost = h.send({"severity": "error", "source": "lost1",
                       "title": "Nowhere", "text": "x"})["id"]
        sent_row(h, aid)
        wait_until(lambda: (row(h, lost, LOST) or {}).get("state") ==
                   DS_FAILED, 15, what="delivery to the lost chat failed")
        assert "#" in admin_says(h, "/mute 1h nothing*")
        msg = [m for m in h.emu.messages(GROUP) if "Boom" in m["text"]][0]
        time.sleep(1.0)  # let the failure notice reach the group
        before = snapshot(h)
        assert before["mutes"] and before["alerts"][0][1] is None, before
        group_before = max(m["message_id"] for m in h.emu.messages(GROUP))
        texts = ["/" + n for n in names] + [
            "/retry-now", "/ack 1", "/mute 1h", "/unmute all",
            "/retry_now 1", "/ack %d" % aid, "/retry_now %d" % lost,
            "/unmute %d" % before["mutes"][0][0],
            "/mute@opsbot_test_bot 2h", "/ack@opsbot_test_bot %d" % aid]
        last = None
        for t in texts:
            last = h.emu.update(t, from_id=STRANGER, chat_id=STRANGER,
                                chat_type="private", username="mallory")
        for who in (STRANGER, STRANGER2):
            for t in texts:
                last = h.emu.update(t, from_id=who, chat_id=GROUP,
                                    chat_type="supergroup",
                                    username="mallory%d" % who)
        cbs = [h.emu.callback(data, from_id=STRANGER, chat_id=GROUP,
                              message_id=msg["message_id"],
                              username="mallory")
               for data in ("ack:%d" % aid, "mute:%d" % aid)]
        last = max(last["update_id"], max(c["update_id"] for c in cbs))
        wait_until(lambda: all_confirmed(h, last), 15,
                   what="all updates confirmed")
        # refusals are queued replies: give them time to go out
        ids = {c["callback_query_id"] for c in cbs}
        answered = wait_until(
            lambda: (lambda a: a if len(a) == len(ids) else None)(
                [c for c in h.emu.callbacks()
                 if c["callback_query_id"] in ids]), 10,
            what="both button presses answered")
        for c in answered:
            assert c["text"] and "not authorised" in c["text"], c
        time.sleep(2.0)
        after = snapshot(h)
        assert after == before, (before, after)
        assert h.sql("SELECT acked_by FROM alerts WHERE id=?",
                     (aid,))[0][0] is None
        priv = h.emu.messages(STRANGER)
        grp = [m for m in h.emu.messages(GROUP)
               if m["message_id"] > group_before]
        assert len(priv) == 1 and "not authorised" in priv[0]["text"], priv
        # STRANGER was told off in private already (one refusal per user
        # per 10 minutes); STRANGER2 is told once, however often it tries
        assert len(grp) == 1 and "not authorised" in grp[0]["text"], \
            [m["text"] for m in grp]
        # the alert's message was not edited to show an ack
        m2 = [m for m in h.emu.messages(GROUP)
              if m["message_id"] == msg["message_id"]][0]
        assert not m2["edits"], m2["edits"]
        assert str(STRANGER) in h.log()
    finally:
        h.close()

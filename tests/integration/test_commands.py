"""Operator commands over long polling, end to end against the emulator."""
import json
import time

from harness import ADMIN, GROUP, Harness, LineReader, wait_until
from marks import serial

STRANGER = 999


def replies_to(h, chat, since_id=0):
    return [m for m in h.emu.messages(chat) if m["message_id"] > since_id]


def ask(h, text, chat=ADMIN, user=ADMIN, chat_type=None, timeout=10):
    """Sends a command, waits for the bot's reply in that chat."""
    before = max([m["message_id"] for m in h.emu.messages(chat)] or [0])
    h.emu.update(text, from_id=user, chat_id=chat, chat_type=chat_type,
                 username="alice" if user == ADMIN else "mallory")
    ms = wait_until(lambda: replies_to(h, chat, before), timeout,
                    what="reply to %s" % text)
    return ms[0]["text"]


def started(h):
    h.start()
    wait_until(lambda: h.emu.commands(), 10, what="setMyCommands")
    return h


def test_commands_registered_and_each_answered():
    h = Harness("cmds")
    try:
        started(h)
        names = [c["command"] for c in h.emu.commands()[-1]["commands"]]
        assert "retry_now" in names and "status" in names, names
        assert all(n.replace("_", "").isalnum() and n.islower()
                   for n in names), names
        h.send({"severity": "critical", "title": "DB down", "text": "x",
                "source": "db1"})
        wait_until(lambda: h.emu.messages(GROUP), 10, what="alert sent")
        assert "status" in ask(h, "/help")
        t = ask(h, "/status")
        assert "opsbot" in t.lower() or "version" in t.lower(), t
        assert "DB down" in ask(h, "/alerts")
        assert "rescheduled" in ask(h, "/retry-now")
        assert "rescheduled" in ask(h, "/RETRY_NOW@opsbot_test_bot")
        t = ask(h, "/mute 1h db*")
        assert "#" in t, t
        assert "db*" in ask(h, "/mutes")
        assert "Unknown command" in ask(h, "/frobnicate")
    finally:
        h.close()


def test_stranger_is_refused_and_changes_nothing():
    h = Harness("stranger")
    try:
        started(h)
        t = ask(h, "/mute 1h", chat=STRANGER, user=STRANGER)
        assert "not authorised" in t, t
        # the second attempt within 10 minutes gets no answer at all
        h.emu.update("/retry_now", from_id=STRANGER, chat_id=STRANGER)
        time.sleep(1.5)
        assert len(h.emu.messages(STRANGER)) == 1
        # in the configured group too
        t = ask(h, "/unmute all", chat=GROUP, user=STRANGER + 1,
                chat_type="supergroup")
        assert "not authorised" in t, t
        mutes = h.sql("SELECT COUNT(*) FROM mutes")[0][0]
        assert mutes == 0
        assert "uid" in h.log() or str(STRANGER) in h.log()
    finally:
        h.close()


def test_restart_between_updates_answers_nothing_twice():
    h = Harness("restart")
    try:
        started(h)
        ask(h, "/help")
        h.stop()
        h.emu.update("/status", from_id=ADMIN, chat_id=ADMIN)
        h.start()
        wait_until(lambda: len(h.emu.messages(ADMIN)) >= 2, 10,
                   what="the update sent while down is answered")
        h.stop()
        h.start()
        time.sleep(3)
        assert len(h.emu.messages(ADMIN)) == 2, \
            [m["text"][:30] for m in h.emu.messages(ADMIN)]
    finally:
        h.close()


@serial
def test_status_within_1s_while_1000_alerts_queued_for_same_chat():
    h = Harness("busy")
    try:
        started(h)
        s = h.connect()
        r = LineReader(s)
        s.sendall(b"".join(json.dumps({"severity": "warning",
                                       "title": "q%d" % i, "text": "x"})
                           .encode() + b"\n" for i in range(1000)))
        for _ in range(1000):
            assert json.loads(r.line())["ok"]
        time.sleep(2)  # the storm is being delivered into the group
        worst = 0
        for _ in range(3):
            t0 = time.monotonic()
            before = max(m["message_id"] for m in h.emu.messages(GROUP))
            h.emu.update("/status", from_id=ADMIN, chat_id=GROUP,
                         chat_type="supergroup")
            wait_until(lambda: [m for m in replies_to(h, GROUP, before)
                                if "📦" not in m["text"]], 5, 0.02,
                       what="/status reply")
            worst = max(worst, time.monotonic() - t0)
            time.sleep(1.3)
        assert worst <= 1.0, "slowest /status reply took %.2f s" % worst
        assert h.emu.stats().get("rate_limited", 0) == 0
    finally:
        h.close()


def test_ack_button_acks_answers_and_edits():
    h = Harness("ack")
    try:
        started(h)
        aid = h.send({"severity": "critical", "title": "Boom", "text": "x"})["id"]
        m = wait_until(lambda: h.emu.messages(GROUP), 10, what="alert")[0]
        assert m["reply_markup"], "no buttons on a critical alert"
        data = m["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        assert data == "ack:%d" % aid, data
        cb = h.emu.callback(data, from_id=ADMIN, chat_id=GROUP,
                            message_id=m["message_id"], username="alice")
        wait_until(lambda: [c for c in h.emu.callbacks()
                            if c.get("callback_query_id") ==
                            cb["callback_query_id"] or
                            c.get("id") == cb["callback_query_id"]],
                   5, what="callback answered")
        acked = h.sql("SELECT acked_by FROM alerts WHERE id=?", (aid,))[0][0]
        assert acked and "alice" in acked, acked

        def edited():
            mm = [x for x in h.emu.messages(GROUP)
                  if x["message_id"] == m["message_id"]][0]
            return mm["edits"] and "acked by" in mm["edits"][-1]["text"]
        wait_until(edited, 10, what="message edited to show the ack")
    finally:
        h.close()


def test_409_webhook_is_deleted_and_polling_resumes():
    h = Harness("webhook")
    try:
        h.emu.config(webhook=True)
        started(h)
        wait_until(lambda: [r for r in h.emu.requests("deleteWebhook")], 10,
                   what="deleteWebhook")
        assert "status" in ask(h, "/help")
        st = h.emu.stats()
        assert not st.get("webhook_dropped_pending"), st
    finally:
        h.close()


def test_409_conflict_backs_off_and_alerts_keep_flowing():
    h = Harness("conflict")
    try:
        h.emu.config(conflict=True)
        started(h)
        time.sleep(3)
        polls = len(h.emu.requests("getUpdates"))
        assert polls <= 6, "%d getUpdates in 3 s under 409" % polls
        h.send({"title": "still delivered", "text": "x"})
        wait_until(lambda: h.emu.messages(GROUP), 10, what="alert delivered")
        assert "another instance" in h.log() or "other getUpdates" in h.log()
    finally:
        h.close()

"""Bursts of alerts (issue 13): urgent alerts stay singles with buttons
while the chat's budget clears them within delivery.pack_after; packs are
actionable, are edited on resolution, and never mix ringing and quiet
alerts."""
import re
import time

from harness import ADMIN, GROUP, Harness, wait_until

STRANGER = 999


def ids_in(text):
    return [int(x) for x in re.findall(r"#(\d+)", text)]


def started(h):
    h.start()
    wait_until(lambda: h.emu.commands(), 10, what="setMyCommands")
    return h


def press(h, data, msg, user, name):
    cb = h.emu.callback(data, from_id=user, chat_id=GROUP,
                        message_id=msg["message_id"], username=name)
    qid = cb["callback_query_id"]
    wait_until(lambda: [c for c in h.emu.callbacks()
                        if c.get("callback_query_id") == qid or
                        c.get("id") == qid], 5, what="callback answered")


def message(h, mid):
    return [m for m in h.emu.messages(GROUP) if m["message_id"] == mid][0]


def test_six_criticals_go_singly_with_buttons_within_6s():
    h = Harness("six")
    try:
        started(h)
        t0 = time.monotonic()
        ids = h.send_many([{"severity": "critical", "source": "db%d" % i,
                            "title": "db%d down" % i, "text": "no answer"}
                           for i in range(6)])

        def six():
            ms = [m for m in h.emu.messages(GROUP)
                  if any(i in ids_in(m["text"]) for i in ids)]
            return len(ms) >= 6 and ms
        ms = wait_until(six, 15, 0.05, "six singles")
        took = time.monotonic() - t0
        assert took <= 6.0, "last of six visible after %.1f s" % took
        assert len(ms) == 6, [m["text"][:40] for m in ms]
        for m, aid in zip(sorted(ms, key=lambda m: ids_in(m["text"])[-1]),
                          ids):
            assert not m["text"].startswith("📦"), m["text"][:60]
            assert not m["silent"], m
            kb = m["reply_markup"]["inline_keyboard"][0]
            assert kb[0]["callback_data"] == "ack:%d" % aid, kb
        assert h.emu.stats().get("rate_limited", 0) == 0

        # a stranger's press changes nothing
        third = [m for m in ms if ids[2] in ids_in(m["text"])][0]
        press(h, "ack:%d" % ids[2], third, STRANGER, "mallory")
        time.sleep(0.5)
        assert h.sql("SELECT acked_by FROM alerts WHERE id=?",
                     (ids[2],))[0][0] is None
        assert not message(h, third["message_id"])["edits"]

        # an admin's Ack edits that alert's message, and only that one
        press(h, "ack:%d" % ids[2], third, ADMIN, "alice")
        wait_until(lambda: message(h, third["message_id"])["edits"], 10,
                   what="the acked alert edited")
        assert "acked by" in message(h, third["message_id"])["edits"][-1][
            "text"]
        for m in ms:
            if m["message_id"] != third["message_id"]:
                assert not message(h, m["message_id"])["edits"], m["text"]

        # /ack takes several ids and ranges
        h.emu.update("/ack %d %d-%d" % (ids[0], ids[3], ids[5]),
                     from_id=ADMIN, chat_id=GROUP, username="alice")
        q = "SELECT COUNT(*) FROM alerts WHERE acked_by IS NOT NULL"
        wait_until(lambda: h.sql(q)[0][0] == 5, 10, what="five acked")
        assert h.sql("SELECT acked_by FROM alerts WHERE id=?",
                     (ids[1],))[0][0] is None
    finally:
        h.close()


def test_mixed_burst_never_rings_for_a_quiet_alert():
    h = Harness("mixed")
    try:
        started(h)
        sevs = ["critical", "info", "error", "warning", "info", "critical",
                "debug", "warning", "error", "info", "warning", "critical"]
        ids = h.send_many([{"severity": s, "source": "svc%d" % i,
                            "title": "%s %d" % (s, i), "text": "x"}
                           for i, s in enumerate(sevs)])
        sev_of = dict(zip(ids, sevs))

        def all_there():
            seen = set()
            for m in h.emu.messages(GROUP):
                seen.update(ids_in(m["text"]))
            return set(ids) <= seen
        wait_until(all_there, 30, 0.1, "every alert delivered")
        for m in h.emu.messages(GROUP):
            mine = [i for i in ids_in(m["text"]) if i in sev_of]
            if not mine:
                continue
            rings = {sev_of[i] in ("critical", "error") for i in mine}
            assert len(rings) == 1, ("mixed message", m["text"])
            assert m["silent"] == (not rings.pop()), m
        # the ringing ones went singly: the budget clears five in seconds
        singles = [m for m in h.emu.messages(GROUP)
                   if not m["text"].startswith("📦") and not m["silent"]]
        assert len(singles) == 5, [m["text"][:30] for m in singles]
    finally:
        h.close()


def test_pack_is_actionable_and_edited_on_resolution():
    # pack_after = 0: any backlog of ringing alerts is packed at once
    h = Harness("packres", extra_conf="delivery = { pack_after = 0; };")
    try:
        started(h)
        ids = h.send_many([{"severity": "critical", "source": "db%d" % (i % 2),
                            "title": "db%d down" % i, "text": "x",
                            "key": "db/%d" % i} for i in range(5)])
        packs = wait_until(lambda: [m for m in h.emu.messages(GROUP)
                                    if m["text"].startswith("📦")],
                           15, what="a pack")
        pack = packs[0]
        inpack = [i for i in ids_in(pack["text"]) if i in ids]
        assert len(inpack) >= 2, pack["text"]
        assert not pack["silent"]
        kb = pack["reply_markup"]["inline_keyboard"][0]
        assert kb[0]["text"].startswith("✅ Ack all"), kb
        assert kb[0]["callback_data"].startswith("ackp:"), kb
        assert len(kb[0]["callback_data"].encode()) <= 64

        # resolving one of them edits the pack and replies under it quietly
        victim = inpack[-1]
        h.send({"severity": "critical", "status": "resolved",
                "key": "db/%d" % ids.index(victim), "text": "back"})

        def edited():
            p = message(h, pack["message_id"])
            return p["edits"] and p
        p = wait_until(edited, 15, what="pack edited")
        last = p["edits"][-1]["text"]
        line = [ln for ln in last.split("\n") if "#%d" % victim in ln][0]
        assert line.startswith("✅"), last
        replies = wait_until(lambda: [m for m in h.emu.messages(GROUP)
                                      if m.get("reply_to") ==
                                      pack["message_id"]], 10,
                             what="reply under the pack")
        assert replies[0]["silent"], replies[0]
        assert "Resolved" in replies[0]["text"], replies[0]["text"]

        # a stranger's "Ack all" changes nothing; an admin's acks them all
        n_edits = len(message(h, pack["message_id"])["edits"])
        press(h, kb[0]["callback_data"], pack, STRANGER, "mallory")
        time.sleep(0.5)
        assert len(message(h, pack["message_id"])["edits"]) == n_edits
        press(h, kb[0]["callback_data"], pack, ADMIN, "alice")
        wait_until(lambda: len(message(h, pack["message_id"])["edits"]) >
                   n_edits, 10, what="pack edited after Ack all")
        acked = h.sql("SELECT COUNT(*) FROM alerts WHERE acked_by IS NOT "
                      "NULL AND id IN (%s)" % ",".join(map(str, inpack)))
        assert acked[0][0] == len(inpack), acked
        assert "acked by" in message(h, pack["message_id"])["edits"][-1][
            "text"]
    finally:
        h.close()

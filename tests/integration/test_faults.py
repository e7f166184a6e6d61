"""Faults end to end: kill -9 under load with a flaky Bot API, a long outage,
a stricter Telegram than the bot's pacing, hostile socket clients, SIGHUP
reload, SIGTERM drain. (harness.close() fails a test whose daemon logs show
the token or a sanitizer report.) Figures are printed (run.py shows them).

Budget: the whole file runs in about 3 minutes; every wait is bounded.
"""
import json
import os
import random
import re
import selectors
import signal
import socket
import struct
import threading
import time

from harness import (GROUP, PRIVATE, SANITIZED, Harness, LineReader,
                     wait_until)
from marks import serial
from states import DS_FAILED, DS_SENT, OPEN_STATES

FAST_RETRY = "retry = { base = 0.2; cap = 2.0; breaker_threshold = 3; };\n"
ROUTE_PRIV = 'routes = ( { source = "priv"; chats = [ %dL ]; } );\n' % PRIVATE
ID_RE = re.compile(r"#(\d+)\b")


# ------------------------------------------------------------------ helpers

def figure(name, value):
    print("    [faults] %s: %s" % (name, value), flush=True)


def message_ids(h):
    """[(chat_id, message_id, [alert ids in its text])] in arrival order."""
    out = []
    for m in h.emu.messages():
        text = m["text"]
        if m.get("edits"):
            text = m["edits"][-1]["text"]
        out.append((m["chat_id"], m["message_id"],
                    [int(x) for x in ID_RE.findall(text)]))
    return out


def delivered_ids(h):
    seen = set()
    for _, _, ids in message_ids(h):
        seen.update(ids)
    return seen


def wait_all_delivered(h, ids, timeout, what="all acknowledged alerts "
                       "delivered"):
    want = set(ids)

    def done():
        return want <= delivered_ids(h)
    try:
        wait_until(done, timeout, 0.5, what)
    except AssertionError:
        missing = sorted(want - delivered_ids(h))
        rows = h.sql("SELECT alert_id, chat_id, state, attempts, last_error "
                     "FROM deliveries WHERE alert_id IN (%s) LIMIT 10" %
                     ",".join(map(str, missing[:10]))) if missing else []
        raise AssertionError("%d of %d not delivered, e.g. %r; rows %r" %
                             (len(missing), len(want), missing[:10], rows))


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ------------------------------------------------------------------ 1. chaos

def test_chaos_kill9_and_flaky_api_every_ack_delivered():
    h = Harness("chaos", extra_conf=FAST_RETRY + ROUTE_PRIV)
    kills = 0
    stop = threading.Event()
    try:
        # Pacing is not under test here, and the bot's limiter starts afresh
        # after every kill -9: no 60 s group windows to sit out.
        h.emu.config(group_per_minute=0)
        h.start()
        acked = {"web": [], "priv": []}

        def client(source):
            i = 0
            s = r = None
            while not stop.is_set():
                try:
                    if s is None:
                        s = h.connect()
                        s.settimeout(5)
                        r = LineReader(s)
                    s.sendall(json.dumps({
                        "severity": "warning", "source": source,
                        "text": "%s-%d" % (source, i)}).encode() + b"\n")
                    i += 1
                    rep = json.loads(r.line())
                    if rep.get("ok"):
                        acked[source].append(rep["id"])
                    time.sleep(0.02)
                except (OSError, EOFError, ValueError):
                    if s is not None:
                        s.close()
                    s = None
                    time.sleep(0.05)
            if s is not None:
                s.close()

        def injector(until):
            kinds = ["reset", "5xx", "timeout"]
            while not stop.is_set() and time.monotonic() < until:
                k = random.choice(kinds)
                try:
                    h.emu.fault(k, count=1, methods=["sendMessage"], hold=3)
                except Exception:
                    pass
                time.sleep(0.8)

        ts = [threading.Thread(target=client, args=(src,), daemon=True)
              for src in ("web", "priv")]
        for t in ts:
            t.start()
        t0 = time.monotonic()
        inj = threading.Thread(target=injector, args=(t0 + 16,),
                               daemon=True)
        time.sleep(1.5)
        inj.start()
        for _ in range(6):
            time.sleep(random.uniform(1.0, 3.5))
            h.kill9()
            kills += 1
            time.sleep(random.uniform(0.0, 0.3))
            h.start()
        time.sleep(2.0)
        stop.set()
        for t in ts + [inj]:
            t.join(15)
        h.emu.clear_faults()
        all_acked = acked["web"] + acked["priv"]
        figure("chaos kills", kills)
        figure("chaos acknowledged", "%d (web %d, priv %d)" % (
            len(all_acked), len(acked["web"]), len(acked["priv"])))
        assert len(acked["web"]) > 50 and len(acked["priv"]) > 50, \
            {k: len(v) for k, v in acked.items()}
        assert len(set(all_acked)) == len(all_acked), "an id acked twice"
        wait_all_delivered(h, all_acked, 90)
        figure("chaos drained after", "%.1fs" % (time.monotonic() - t0))

        # Routing held through every restart.
        msgs = message_ids(h)
        per_chat = {}
        for chat, _, ids in msgs:
            per_chat.setdefault(chat, set()).update(ids)
        assert set(acked["web"]) <= per_chat.get(GROUP, set())
        assert set(acked["priv"]) <= per_chat.get(PRIVATE, set())
        assert not set(acked["priv"]) & per_chat.get(GROUP, set())
        assert not set(acked["web"]) & per_chat.get(PRIVATE, set())

        # Duplicates. dispatch keeps at most one request in flight per chat
        # and commits SENDING before the request leaves, so a kill -9 can
        # repeat at most one message per chat: the one in flight (or whose
        # answer was harvested but not yet committed). A repeat is resent
        # after the restart, possibly re-packed together with newer alerts
        # (which can in turn be in flight at a later kill). So, per chat,
        # the messages in which duplicated ids FIRST appeared ("originals")
        # are at most one per kill; and duplicates per chat are at most
        # kills * (the largest message seen in that chat). Faults never
        # duplicate: the emulator's reset/5xx/timeout do not deliver.
        dups = 0
        seen = {}
        first = {}
        originals = {}
        biggest = {}
        for chat, mid, ids in msgs:
            biggest[chat] = max(biggest.get(chat, 0), len(ids))
            for i in ids:
                key = (chat, i)
                if key in seen:
                    dups += 1
                    originals.setdefault(chat, set()).add(first[key])
                else:
                    seen[key] = 1
                    first[key] = mid
        nmsgs = len(msgs)
        figure("chaos messages", "%d (largest pack: %s)" % (nmsgs, biggest))
        figure("chaos duplicate deliveries", "%d (from %s original "
               "message(s))" % (dups, {c: len(o) for c, o in
                                       originals.items()}))
        for chat, o in originals.items():
            assert len(o) <= kills, (chat, sorted(o), kills)
        assert dups <= sum(kills * b for b in biggest.values()), dups
        st = h.emu.stats()
        figure("chaos faults applied", st.get("faults_by_kind"))
        assert h.sql("SELECT COUNT(*) FROM deliveries WHERE state = ?",
                     (DS_FAILED,))[0][0] == 0, "a delivery failed for good"
    finally:
        stop.set()
        h.close()


# ------------------------------------------------------------------ 2. outage

def test_outage_30s_bounded_requests_then_all_delivered():
    h = Harness("outage30", extra_conf="retry = { base = 0.5; cap = 5.0; "
                "breaker_threshold = 3; };\n" + ROUTE_PRIV)
    try:
        h.start()
        time.sleep(0.5)
        h.emu.fault("down", seconds=30)
        t_down = time.monotonic()
        ids = h.send_many([{"severity": "error", "source": "db%d" % (i % 3),
                             "text": "outage early %d" % i}
                            for i in range(10)])
        time.sleep(12)
        ids += h.send_many([{"severity": "critical", "source": "priv",
                              "text": "outage mid %d" % i} for i in range(5)])
        ids += h.send_many([{"severity": "warning", "text": "outage late %d"
                              % i} for i in range(10)])
        wait_until(lambda: time.monotonic() - t_down > 30.5, 35, 0.2,
                   "outage over")
        t_up = time.monotonic()
        # Bound: the bot charges every attempt (failed probes included) to
        # its own per-group window (20/min), so after an outage the backlog
        # may wait for that window to free: at most 60 s after the first
        # failed attempt, i.e. ~30 s after recovery here.
        wait_all_delivered(h, ids, 45)
        took = time.monotonic() - t_down
        lag = time.monotonic() - t_up
        reqs = h.emu.requests()
        during = [r for r in reqs if r.get("outcome") == "fault:down"]
        by_method = {}
        for r in during:
            by_method[r["method"]] = by_method.get(r["method"], 0) + 1
        figure("outage requests during 30 s down", "%d %s" %
               (len(during), by_method))
        figure("outage all delivered after", "%.1fs (%.1fs after recovery)"
               % (took, lag))
        assert len(during) < 100, "%d requests during a 30 s outage" % \
            len(during)
        assert took >= 30
        # delivered once each: nothing was accepted during the outage
        counts = {}
        for _, _, mids in message_ids(h):
            for i in mids:
                counts[i] = counts.get(i, 0) + 1
        assert all(counts[i] == 1 for i in ids), \
            [i for i in ids if counts[i] != 1]
        assert h.daemon.poll() is None
    finally:
        h.close()


# ------------------------------------------------------------------ 3. 429

def test_stricter_telegram_429s_obeyed_no_early_send():
    # The bot keeps its default limits (1/s per chat, 20/min per group);
    # the emulator is stricter, so 429s come, and each must be obeyed.
    h = Harness("obey", extra_conf="delivery = { pack = false; };\n" +
                ROUTE_PRIV)
    try:
        h.emu.config(chat_rate=0.5, chat_burst=1, group_per_minute=10)
        h.start()
        t0 = time.monotonic()
        alerts = []
        for i in range(8):
            alerts.append({"severity": "error", "text": "grp %d" % i})
            alerts.append({"severity": "error", "source": "priv",
                           "text": "prv %d" % i})
        ids = h.send_many(alerts)
        wait_all_delivered(h, ids, 60)
        st = h.emu.stats()
        figure("429 received by the bot", "%d %s" % (
            st.get("rate_limited", 0), st.get("rate_limited_by_scope")))
        figure("429 early sends", st.get("early", 0))
        figure("429 all delivered after", "%.1fs" %
               (time.monotonic() - t0))
        assert st.get("early", 0) == 0, st.get("early_detail")
        assert st.get("rate_limited", 0) >= 1, "the test provoked no 429"
        # obeyed, not given up: every row is sent, none failed
        rows = dict(h.sql("SELECT state, COUNT(*) FROM deliveries "
                          "GROUP BY state"))
        assert rows.get(DS_SENT, 0) == len(ids), rows
    finally:
        h.close()


# ------------------------------------------------------------------ 4. hostile

@serial
def test_hostile_clients_all_at_once_daemon_stays_responsive():
    h = Harness("hostile")
    # One uid plays every client here: lift the per-uid limit so that the
    # crowd meets max_clients (test_harden covers the per-uid limit).
    with open(h.conf) as f:
        conf = f.read()
    with open(h.conf, "w") as f:
        f.write(conf.replace('socket = { path = "%s"; };' % h.sock,
                             'socket = { path = "%s"; max_clients_per_uid '
                             '= 65536; };' % h.sock))
    held = []
    crowd = []
    stop_rss = threading.Event()
    try:
        h.start()
        pid = h.daemon.pid
        rss = [rss_kb(pid)]

        def sample():
            while not stop_rss.is_set():
                rss.append(rss_kb(pid))
                time.sleep(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        good = h.connect()
        never = h.connect()
        big = h.connect()
        mid1 = h.connect()
        mid2 = h.connect()
        held = [good, never, big, mid1, mid2]
        assert h.send({"text": "hello"}, good)["ok"]

        # 300 at once: the ones over max_clients (256) are told and closed.
        for _ in range(300):
            # The listen backlog is 128: a non-blocking UNIX connect gets
            # EAGAIN (not "in progress") when it is full; retry, bounded.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            crowd.append(s)
            end = time.monotonic() + 10
            while True:
                try:
                    s.connect(h.sock)
                    break
                except BlockingIOError:
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.002)
        sel = selectors.DefaultSelector()
        for s in crowd:
            sel.register(s, selectors.EVENT_READ)
        refused, other = 0, []
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            evs = sel.select(0.5)
            if not evs and refused >= 300 - 256:
                break
            for key, _ in evs:
                s = key.fileobj
                sel.unregister(s)
                try:
                    data = s.recv(4096)
                except OSError as e:
                    data = str(e).encode()
                if b"server: too many clients" in data:
                    refused += 1
                else:
                    other.append(data)
        sel.close()
        figure("hostile refused of 300", "%d (others held open)" % refused)
        assert not other, other[:3]
        assert 300 - (256 - len(held)) - 2 <= refused <= 300 - 256 + \
            len(held) + 2, refused

        results = {}

        def never_reader():
            # 2,000 alerts, then 30,000 bad lines whose error replies alone
            # (~1.6 MB) overflow max_output (1 MiB) plus the socket buffer;
            # never reads a byte.
            sent = 0
            try:
                never.settimeout(20)
                for k in range(0, 2000, 200):
                    never.sendall(b"".join(
                        json.dumps({"text": "nr-%d" % i}).encode() + b"\n"
                        for i in range(k, k + 200)))
                    sent += 200
                for k in range(30):
                    never.sendall(b"x\n" * 1000)
                    sent += 1000
                results["never"] = "sent all %d lines" % sent
            except OSError as e:
                results["never"] = "closed after %d lines (%s)" % (
                    sent, e.__class__.__name__)

        def big_sender():
            # two 5 MB lines without a newline inside, then a good one
            try:
                big.settimeout(30)
                r = LineReader(big)
                replies = []
                chunk = b"z" * 65536
                for _ in range(2):
                    big.sendall(b'{"text":"')
                    for _ in range(80):  # 5 MiB
                        big.sendall(chunk)
                    big.sendall(b'"}\n')
                big.sendall(b'{"text":"after the big lines"}\n')
                for _ in range(3):
                    replies.append(json.loads(r.line()))
                results["big"] = replies
            except (OSError, EOFError, ValueError) as e:
                results["big"] = "error %r" % e

        def mid_line():
            mid1.sendall(b'{"severity":"critical","text":"half a li')
            mid1.close()
            mid2.sendall(b'{"severity":"critical","text":"reset mid li')
            mid2.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            mid2.close()
            results["mid"] = "done"

        hostile = [threading.Thread(target=f, daemon=True)
                   for f in (never_reader, big_sender, mid_line)]
        for t in hostile:
            t.start()
        lat = []
        r = LineReader(good)
        for i in range(20):
            t1 = time.monotonic()
            good.sendall(json.dumps({"text": "good %d" % i}).encode() + b"\n")
            rep = json.loads(r.line())
            lat.append(time.monotonic() - t1)
            assert rep["ok"], rep
            time.sleep(0.05)
        for t in hostile:
            t.join(60)
        figure("hostile good-client ack latency ms (max/median)", "%.1f / %.1f"
               % (max(lat) * 1000, sorted(lat)[10] * 1000))
        figure("hostile never-reader", results.get("never"))

        big_r = results.get("big")
        assert isinstance(big_r, list), big_r
        assert not big_r[0]["ok"] and big_r[0]["error"].startswith(
            "line: longer than"), big_r
        assert not big_r[1]["ok"] and big_r[1]["error"].startswith(
            "line: longer than"), big_r
        assert big_r[2]["ok"], big_r
        assert results.get("mid") == "done"

        # the never-reader: closed by the daemon once its replies overflowed
        never.settimeout(10)
        got = 0
        closed = False
        try:
            while True:
                b = never.recv(1 << 20)
                if not b:
                    closed = True
                    break
                got += len(b)
        except socket.timeout:
            pass
        except OSError:
            closed = True
        figure("hostile never-reader replies received before close",
               "%d bytes, closed=%s" % (got, closed))
        assert closed, "daemon kept a client whose replies overflowed " \
            "max_output"
        # it was closed for its output, not before: all its alerts (which
        # came before the bad lines) were read and stored
        nr = h.sql("SELECT COUNT(*) FROM alerts WHERE text LIKE 'nr-%'")[0][0]
        assert nr == 2000, nr
        assert got <= 1048576 + 1048576, got

        # the crowd goes away: the slots come back
        for s in crowd:
            s.close()
        crowd = []
        wait_until(lambda: h.send({"text": "after crowd"}).get("ok"), 5,
                   0.1, "a new client accepted again")
        stored = h.sql("SELECT COUNT(*) FROM alerts WHERE text LIKE "
                       "'%li'")[0][0]
        figure("hostile half lines stored", stored)
        assert stored == 0
        stop_rss.set()
        sampler.join(5)
        rss.append(rss_kb(pid))
        figure("hostile daemon VmRSS max", "%.1f MB" % (max(rss) / 1024.0))
        if not SANITIZED:
            assert max(rss) < 64 * 1024, rss
        assert max(lat) < 0.100, ["%.1f" % (x * 1000) for x in lat]
        assert h.daemon.poll() is None
    finally:
        stop_rss.set()
        for s in held + crowd:
            try:
                s.close()
            except OSError:
                pass
        h.close()


# ------------------------------------------------------------------ 6. SIGHUP

def test_sighup_reloads_and_survives_a_broken_config():
    h = Harness("hup", extra_conf="delivery = { pack = false; };\n")
    try:
        h.start()
        (a1,) = h.send_many([{"severity": "error", "text": "before reload"}])
        wait_all_delivered(h, [a1], 15)
        h.extra_conf = ('delivery = { pack = false; '
                        'notify_severity = "critical"; };\n')
        h.write_conf()
        h.daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in h.log(), 10, 0.1,
                   "'configuration reloaded' in the log")
        (a2,) = h.send_many([{"severity": "error", "text": "after reload"}])
        wait_all_delivered(h, [a2], 15)
        silent = {m["text"].split("\n")[0]: m["silent"]
                  for m in h.emu.messages()}
        by_id = {}
        for m in h.emu.messages():
            for i in ID_RE.findall(m["text"]):
                by_id[int(i)] = m["silent"]
        # error rang before; after notify_severity = critical it is silent
        assert by_id[a1] is False and by_id[a2] is True, (by_id, silent)

        with open(h.conf, "a") as f:
            f.write("\nthis is { not ; libconfig\n")
        h.daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: "failed" in h.log().split(
            "configuration reloaded")[-1], 10, 0.1, "reload failure logged")
        tail = h.log().split("configuration reloaded")[-1]
        figure("hup failure log", [l for l in tail.splitlines()
                                   if "fail" in l][:1])
        assert "keeping the running configuration" in tail, tail
        time.sleep(0.3)
        assert h.daemon.poll() is None, "daemon died on a broken reload"
        (a3,) = h.send_many([{"severity": "error", "text": "still here"}])
        wait_all_delivered(h, [a3], 15)
        # the running (reloaded) configuration is kept
        m = [m for m in h.emu.messages() if ("#%d" % a3) in m["text"]][0]
        assert m["silent"] is True, m
    finally:
        h.close()


# ------------------------------------------------------------------ 7. SIGTERM

def test_sigterm_drain_with_slow_api_loses_nothing():
    h = Harness("drain", extra_conf=FAST_RETRY)
    try:
        h.start()
        h.emu.fault("timeout", seconds=120, methods=["sendMessage"], hold=2)
        ids = h.send_many([{"severity": "critical", "source": "s%d" % (i % 4),
                             "text": "drain %d" % i} for i in range(12)])
        wait_until(lambda: h.emu.requests("sendMessage"), 10, 0.05,
                   "a sendMessage in flight")
        t0 = time.monotonic()
        h.daemon.send_signal(signal.SIGTERM)
        try:
            rc = h.daemon.wait(10)
        except Exception:
            raise AssertionError("daemon did not exit within 10 s of SIGTERM")
        took = time.monotonic() - t0
        figure("drain exit after SIGTERM", "%.2fs rc=%d" % (took, rc))
        assert rc == 0, h.log()
        assert took <= 6.5, took
        assert not os.path.exists(h.sock), "socket file left behind"
        assert "stopping" in h.log()
        rows = h.sql("SELECT alert_id, state FROM deliveries WHERE alert_id "
                     "IN (%s)" % ",".join(map(str, ids)))
        states = {}
        for aid, st in rows:
            states[st] = states.get(st, 0) + 1
        figure("drain delivery states at exit", states)
        assert {r[0] for r in rows} == set(ids), "acknowledged alert lost"
        assert set(states) <= set(OPEN_STATES), states
        assert not h.emu.messages()
        h.emu.clear_faults()
        h.start()
        wait_all_delivered(h, ids, 30)
    finally:
        h.close()

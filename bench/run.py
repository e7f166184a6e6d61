"""run.py - opsbot's benchmarks (make bench). Prints figures; asserts
nothing. Each part starts its own daemon (and emulator) in a temp dir.

  BENCH=ingest,latency,storm,six,am_storm,http_ingest,metrics_scrape,fleet_storm,memory,status,idle
                                           parts to run (default: all but
                                           status, which memory includes)
  IDLE_SECONDS=600                         idle CPU window (default 60)

Beside them, with the real Alertmanager (Debian prometheus-alertmanager):
  am_storm     1,000 alerts through Alertmanager's own telegram_config, and
               through Alertmanager -> opsbot's HTTP intake, into the emulator
  http_ingest  POST /api/v1/alerts (1,000-alert arrays and single alerts,
               one client) beside Alertmanager's POST /api/v2/alerts
  fleet_storm  1,000 alerts written to three relays (relay mode) that
               forward into a two-peer Alertmanager cluster, whose webhooks
               go to one edge opsbot (docs/SCALING.md)
The opsbot half of each prints "skipped: no HTTP intake" until the daemon
has one (DESIGN.md "HTTP intake").
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import GROUP, TOKEN, Harness, LineReader, wait_until  # noqa
from marks import Skip  # noqa: E402
import realpeers  # noqa: E402

BIN = os.environ.get("BENCHBIN", os.path.join(ROOT, "build", "bench"))


def mem_kb(pid):
    """RSS, PSS and private dirty (the daemon's own memory), in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss", "Private_Dirty"):
                out[k] = int(v.split()[0])
    return out


def mem_str(m):
    return "RSS %5.1f MB  (PSS %4.1f MB, private %4.1f MB; the rest of RSS " \
           "is shared library pages)" % (m["Rss"] / 1024, m["Pss"] / 1024,
                                         m["Private_Dirty"] / 1024)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / tck


def ingest(n_one=3000, n_pipe=50000):
    # API unreachable (closed port): measures intake alone, not delivery.
    h = Harness("bench-ingest", start_emulator=False)
    try:
        h.start()
        fs = subprocess.run([os.path.join(BIN, "fsync"), h.dir],
                            capture_output=True, text=True).stdout.strip()
        one = subprocess.run([os.path.join(BIN, "ingest"), h.sock, "1",
                              str(n_one), "one"], capture_output=True,
                             text=True, timeout=600)
        pipe = subprocess.run([os.path.join(BIN, "ingest"), h.sock, "4",
                               str(n_pipe), "pipe"], capture_output=True,
                              text=True, timeout=600)
        print("ingest, durable and acknowledged (API down, intake only):")
        print("  fsync rate of this disk:          %8s /s" % fs)
        print("  1 client, one at a time:          %8s alerts/s  (%d alerts)"
              % (one.stdout.strip() or one.stderr.strip(), n_one))
        print("  4 clients, pipelined:             %8s alerts/s  (%d alerts)"
              % (pipe.stdout.strip() or pipe.stderr.strip(), 4 * n_pipe))
    finally:
        h.close()


def latency(n_chats=20, rounds=10):
    routes = ",\n".join(
        '{ source = "c%d"; chats = [ %dL ]; }' % (i, 5000 + i)
        for i in range(n_chats))
    h = Harness("bench-lat", extra_conf="routes = ( %s );" % routes)
    try:
        h.start()
        s = h.connect()
        r = LineReader(s)
        sent = {}
        for k in range(rounds):
            for i in range(n_chats):
                title = "lat-%d-%d" % (k, i)
                t = time.time() * 1000
                s.sendall(json.dumps({"source": "c%d" % i, "title": title,
                                      "severity": "info"}).encode() + b"\n")
                json.loads(r.line())
                sent[title] = t
                time.sleep(0.06)
        wait_until(lambda: len(h.emu.messages()) >= len(sent), 30,
                   what="all latency alerts delivered")
        lat = []
        for m in h.emu.messages():
            found = re.search(r"lat-\d+-\d+", m["text"])
            if found and found.group(0) in sent:
                lat.append(m["date_ms"] - sent[found.group(0)])
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
        print("socket-to-Telegram latency, single alerts, emulator on "
              "loopback (%d alerts):" % len(lat))
        print("  p50 %.1f ms   p99 %.1f ms   max %.1f ms" %
              (p(0.5), p(0.99), lat[-1]))
    finally:
        h.close()


def storm(n=1000):
    h = Harness("bench-storm")
    try:
        h.start()
        s = h.connect()
        r = LineReader(s)
        t0 = time.time()
        lines = b"".join(json.dumps({
            "severity": ["critical", "error", "warning", "info"][i % 4],
            "source": "web%d" % (i % 37), "title": "Probe failed %d" % i,
            "text": "HTTP check of https://svc%d.example/health timed out"
                    % i}).encode() + b"\n" for i in range(n))
        s.sendall(lines)
        ids = [json.loads(r.line())["id"] for _ in range(n)]

        def all_visible():
            text = "\n".join(m["text"] for m in h.emu.messages())
            return all(("#%d" % i) in text for i in ids)
        wait_until(all_visible, 120, interval=0.2, what="storm visible")
        took = time.time() - t0
        st = h.emu.stats()
        print("storm of %d alerts into one supergroup:" % n)
        print("  all visible after %.1f s, %d messages, %d x 429" %
              (took, len(h.emu.messages()), st.get("rate_limited", 0)))
    finally:
        h.close()


def six(rounds=3):
    """Six critical alerts at once into a group (six databases down in
    the same second): time until the last is visible, each a single
    message with its buttons."""
    took = []
    for r in range(rounds):
        h = Harness("bench-six")
        try:
            h.start()
            t0 = time.time()
            ids = h.send_many([{"severity": "critical", "source": "db%d" % i,
                                "title": "db%d down" % i, "text": "x"}
                               for i in range(6)])

            def singles():
                ms = [m for m in h.emu.messages()
                      if m.get("reply_markup") and
                      any(("#%d" % i) in m["text"] for i in ids)]
                return len(ms) >= 6 and ms
            ms = wait_until(singles, 60, interval=0.02, what="six singles")
            took.append(time.time() - t0)
            packed = sum(m["text"].startswith("📦") for m in ms)
        finally:
            h.close()
    print("six simultaneous critical alerts into one group:")
    print("  last visible after %s s (%d rounds), %d packed" %
          (" / ".join("%.1f" % t for t in took), rounds, packed))


def fill(h, n):
    """n alerts queued (API down), over 4 pipelined connections."""
    per = n // 4
    subprocess.run([os.path.join(BIN, "ingest"), h.sock, "4", str(per),
                    "pipe"], check=True, capture_output=True, timeout=1200)
    time.sleep(2)


def status_once(s, r):
    t = time.monotonic()
    s.sendall(b'{"command":"status"}\n')
    rep = json.loads(r.line())
    assert rep["ok"], rep
    return (time.monotonic() - t) * 1000, rep["status"]


def status_figures(h, n):
    """What the status report costs with n alerts stored: one request at
    a time (the same store read as systemd's STATUS= and a /metrics
    scrape), and 200 pipelined status lines beside another client's ack."""
    s = h.connect()
    s.settimeout(300)  # a slow status (a scan per report) takes long
    r = LineReader(s)
    lat = sorted(status_once(s, r)[0] for _ in range(50))
    _, st = status_once(s, r)
    print("  status with %d stored: median %.2f ms, max %.2f ms "
          "(50 requests; alerts_stored %d)" % (
              n, lat[len(lat) // 2], lat[-1], st.get("alerts_stored", 0)))
    other = h.connect()
    other.settimeout(300)
    t = time.monotonic()
    s.sendall(b'{"command":"status"}\n' * 200)
    other.sendall(b'{"title":"beside","text":"200 status lines"}\n')
    LineReader(other).line()
    ack = (time.monotonic() - t) * 1000
    for _ in range(200):
        r.line()
    all200 = (time.monotonic() - t) * 1000
    print("  200 pipelined status lines: all answered in %.1f ms; another "
          "client's ack meanwhile %.1f ms" % (all200, ack))
    other.close()
    s.close()


def memory(n=1000000):
    h = Harness("bench-mem", start_emulator=False)
    try:
        h.start()
        time.sleep(1)
        idle = mem_kb(h.daemon.pid)
        fill(h, n)
        full = mem_kb(h.daemon.pid)
        q = h.cli("status", "--json")
        pending = json.loads(q.stdout)["status"]["queue"]
        print("memory:")
        print("  idle:                          %s" % mem_str(idle))
        print("  %d queued, API down:      %s" % (n, mem_str(full)))
        print("  queue: %s" % {k: v for k, v in pending.items() if v})
        status_figures(h, n)
    finally:
        h.close()


def status(n=1000000):
    h = Harness("bench-status", start_emulator=False)
    try:
        h.start()
        fill(h, n)
        print("status:")
        status_figures(h, n)
    finally:
        h.close()


def idle(seconds):
    # the default long poll (50 s), as in production
    h = Harness("bench-idle", poll_timeout=50)
    try:
        h.start()
        time.sleep(2)
        c0 = cpu_s(h.daemon.pid)
        time.sleep(seconds)
        c1 = cpu_s(h.daemon.pid)
        print("idle CPU over %d s (long polling, timers): %.2f s "
              "(%.3f s per 10 min)" % (seconds, c1 - c0,
                                        (c1 - c0) * 600 / seconds))
    finally:
        h.close()


# ------------------------------------------- against the real Alertmanager

HTTP_TOKEN = "bench-http-token-0123456789"
AM_GROUP_BY = ("instance",)  # 37 instances: 37 groups of ~27 alerts
# group_interval is Alertmanager's default: with 10s its 37 notifiers,
# retrying without waiting out retry_after, kept the chat blocked (8
# messages and 6,159 429s in 300 s); with 5m they get through.
AM_GROUP_WAIT, AM_GROUP_INTERVAL = "1s", "5m"
# one line per alert, so "all visible" means each alert's summary is shown
AM_MESSAGE = ('{{ range .Alerts }}{{ .Status }}: {{ .Annotations.summary }}'
              '\n{{ end }}')


def storm_alerts(n):
    """n distinct alerts for Alertmanager's API; summary "P0042" etc."""
    sev = ["critical", "error", "warning", "info"]
    return [realpeers.am_alert(
        "ProbeFailed", instance="web%d" % (i % 37), probe="p%d" % i,
        severity=sev[i % 4],
        annotations={"summary": "Probe P%04d failed" % i,
                     "description": "HTTP check of https://svc%d.example/"
                                    "health timed out" % i})
        for i in range(n)]


def wait_visible(emu, n, t0, timeout):
    """Seconds from t0 until every "P%04d" of 0..n-1 is in the chat, or
    None after timeout."""
    want = {"P%04d" % i for i in range(n)}
    while time.time() - t0 < timeout:
        text = "\n".join(m["text"] for m in emu.messages())
        if all(w in text for w in want):
            return time.time() - t0
        time.sleep(0.5)
    return None


def storm_line(emu, n, took, timeout):
    st = emu.stats()
    shown = "all visible after %.1f s" % took if took is not None else \
        "NOT all visible after %d s" % timeout
    return "%s, %d messages, %d x 429" % (shown, len(emu.messages()),
                                          st.get("rate_limited", 0))


def start_http_daemon(name, start_emulator=True):
    """A daemon with the HTTP intake on a free loopback port and a bearer
    token: (harness, port), or (None, reason) when this build has no
    intake (the config is refused, or nothing listens on the port)."""
    port = realpeers.free_port()
    h = Harness(name, start_emulator=start_emulator)
    tf = os.path.join(h.dir, "http-token")
    with open(os.open(tf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(HTTP_TOKEN + "\n")
    h.extra_conf = realpeers.opsbot_http_conf(port, tf)
    h.write_conf()
    try:
        h.start()
        end = time.monotonic() + 3
        while True:
            try:
                realpeers.http_json("GET", "http://127.0.0.1:%d/healthz"
                                    % port, timeout=2)
                return h, port
            except OSError:
                if time.monotonic() > end:
                    raise AssertionError("nothing listens on %d" % port)
                time.sleep(0.1)
    except AssertionError as e:
        h.close()
        lines = str(e).splitlines() or ["?"]
        why = [ln for ln in lines[1:] if "http" in ln.lower()]
        return None, (why or lines)[0].strip()[:120]


def am_storm_telegram(n, timeout):
    """Alertmanager -> its own telegram_config -> emulator."""
    h = Harness("bench-am-tg")  # emulator only
    try:
        tg = realpeers.telegram_receiver(h.emu.api_url, TOKEN, GROUP,
                                         message=AM_MESSAGE)
        with realpeers.Alertmanager(
                telegram=tg, group_by=AM_GROUP_BY, group_wait=AM_GROUP_WAIT,
                group_interval=AM_GROUP_INTERVAL) as am:
            t0 = time.time()
            am.post_alerts(storm_alerts(n))
            took = wait_visible(h.emu, n, t0, timeout)
            return storm_line(h.emu, n, took, timeout)
    finally:
        h.close()


def am_storm_opsbot(n, timeout):
    """Alertmanager -> webhook -> opsbot's HTTP intake
    (POST /api/v1/alertmanager, bearer token) -> emulator. Written against
    DESIGN.md "HTTP intake"; skipped while the daemon has none."""
    h, port = start_http_daemon("bench-am-ops")
    if h is None:
        return "skipped: no HTTP intake (%s)" % port
    try:
        hook = "http://127.0.0.1:%d/api/v1/alertmanager" % port
        with realpeers.Alertmanager(
                hook, bearer_token=HTTP_TOKEN, group_by=AM_GROUP_BY,
                group_wait=AM_GROUP_WAIT,
                group_interval=AM_GROUP_INTERVAL) as am:
            t0 = time.time()
            am.post_alerts(storm_alerts(n))
            took = wait_visible(h.emu, n, t0, timeout)
            line = storm_line(h.emu, n, took, timeout)
            sent = h.sql("SELECT COUNT(*) FROM deliveries WHERE state=2")
            return "%s; %d deliveries sent" % (line, sent[0][0])
    finally:
        h.close()


def am_storm(n=1000, timeout=300):
    try:
        realpeers.require_alertmanager()
    except Skip as e:
        print("am_storm: skipped: %s" % e)
        return
    print("storm of %d alerts via Prometheus Alertmanager 0.25 into one "
          "supergroup (group_by %s, group_wait %s, group_interval %s):"
          % (n, list(AM_GROUP_BY), AM_GROUP_WAIT, AM_GROUP_INTERVAL))
    print("  Alertmanager telegram_config:  %s" % am_storm_telegram(n, timeout))
    sys.stdout.flush()
    print("  Alertmanager -> opsbot:        %s" % am_storm_opsbot(n, timeout))


def http_requests(port, path, bodies, token=None):
    """Sends each body as a POST on one keep-alive connection, one request
    at a time (each answer read before the next request): (seconds,
    {status: count})."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
            "Content-Type: application/json\r\nContent-Length: %%d\r\n\r\n"
            % (path, port, auth))
    reqs = [(head % len(b)).encode() + b for b in bodies]
    codes = {}
    buf = b""
    t0 = time.monotonic()
    try:
        for r in reqs:
            s.sendall(r)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                buf += chunk
            hdr, buf = buf.split(b"\r\n\r\n", 1)
            lines = hdr.decode("latin-1").split("\r\n")
            code = int(lines[0].split()[1])
            clen = 0
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                if k.strip().lower() == "content-length":
                    clen = int(v)
            while len(buf) < clen:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                buf += chunk
            buf = buf[clen:]
            codes[code] = codes.get(code, 0) + 1
    finally:
        s.close()
    return time.monotonic() - t0, codes


def ingest_line(took, n_alerts, n_reqs, codes):
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    bad = {k: v for k, v in codes.items() if not 200 <= k < 300}
    return "%8.0f alerts/s  (%d alerts in %d requests%s)" % (
        n_alerts / took, n_alerts, n_reqs,
        "" if ok == n_reqs else "; NOT ok: %r" % bad)


def http_ingest(n_batches=20, batch=1000, n_single=3000):
    print("HTTP ingest, one client, each request answered before the next:")
    # opsbot: answered after its commit (durable), Telegram unreachable
    h, port = start_http_daemon("bench-http", start_emulator=False)
    if h is None:
        print("  opsbot POST /api/v1/alerts:         skipped: no HTTP intake "
              "(%s)" % port)
    else:
        try:
            def ops(i):
                return {"severity": "warning", "source": "web%d" % (i % 37),
                        "title": "Probe failed %d" % i,
                        "text": "HTTP check timed out"}
            arrays = [json.dumps([ops(b * batch + i) for i in range(batch)])
                      .encode() for b in range(n_batches)]
            took, codes = http_requests(port, "/api/v1/alerts", arrays,
                                        HTTP_TOKEN)
            print("  opsbot %d-alert arrays (durable):   %s" % (
                batch, ingest_line(took, n_batches * batch, n_batches,
                                   codes)))
            singles = [json.dumps(ops(i)).encode() for i in range(n_single)]
            took, codes = http_requests(port, "/api/v1/alerts", singles,
                                        HTTP_TOKEN)
            print("  opsbot single alerts (durable):     %s" % ingest_line(
                took, n_single, n_single, codes))
            # the same daemon's socket, one at a time, and the disk's
            # fsync rate right now: what bounds one-at-a-time ingest
            one = subprocess.run([os.path.join(BIN, "ingest"), h.sock, "1",
                                  str(n_single), "one"], capture_output=True,
                                 text=True, timeout=600)
            fs = subprocess.run([os.path.join(BIN, "fsync"), h.dir],
                                capture_output=True, text=True).stdout.strip()
            print("  (same daemon, socket one at a time: %s alerts/s; "
                  "fsync rate of this disk: %s /s)" % (
                      one.stdout.strip() or one.stderr.strip(), fs))
        finally:
            h.close()
    sys.stdout.flush()
    try:
        realpeers.require_alertmanager()
    except Skip as e:
        print("  Alertmanager: skipped: %s" % e)
        return
    # Alertmanager: in memory, not durable; a receiver with no integration
    # so notifications cost nothing
    with realpeers.Alertmanager(receiver={}) as am:
        def amal(i):
            return {"labels": {"alertname": "ProbeFailed",
                               "instance": "web%d" % (i % 37),
                               "probe": "p%d" % i, "severity": "warning"},
                    "annotations": {"summary": "Probe failed %d" % i}}
        arrays = [json.dumps([amal(b * batch + i) for i in range(batch)])
                  .encode() for b in range(n_batches)]
        took, codes = http_requests(am.port, "/api/v2/alerts", arrays)
        print("  Alertmanager %d-alert arrays (mem): %s" % (
            batch, ingest_line(took, n_batches * batch, n_batches, codes)))
        singles = [json.dumps([amal(10 ** 6 + i)]).encode()
                   for i in range(n_single)]
        took, codes = http_requests(am.port, "/api/v2/alerts", singles)
        print("  Alertmanager single alerts (mem):   %s" % ingest_line(
            took, n_single, n_single, codes))


def scrape_times(port, n):
    """Milliseconds per GET /metrics (whole answer read), n times on one
    keep-alive connection: sorted list."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    req = ("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
           % port).encode()
    out = []
    try:
        for _ in range(n):
            t0 = time.monotonic()
            s.sendall(req)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            hdr, body = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?i)content-length: *(\d+)", hdr)
            while len(body) < int(m.group(1)):
                body += s.recv(65536)
            out.append((time.monotonic() - t0) * 1000)
    finally:
        s.close()
    return sorted(out)


def metrics_scrape(n=1000000, scrapes=50):
    """Cost of one /metrics scrape, with an empty queue and with n alerts
    queued (API down), from a client on loopback."""
    h, port = start_http_daemon("bench-scrape", start_emulator=False)
    if h is None:
        print("metrics scrape: skipped: no HTTP intake (%s)" % port)
        return
    try:
        print("/metrics scrape, one client, keep-alive (%d scrapes):"
              % scrapes)
        for label, count in (("empty queue", 0), ("%d queued" % n, n)):
            if count:
                subprocess.run([os.path.join(BIN, "ingest"), h.sock, "4",
                                str(count // 4), "pipe"], check=True,
                               capture_output=True, timeout=1200)
            scrape_times(port, 3)  # warm the page cache
            t = scrape_times(port, scrapes)
            print("  %-18s median %7.2f ms   p90 %7.2f ms   max %7.2f ms"
                  % (label + ":", t[len(t) // 2], t[int(len(t) * .9)],
                     t[-1]))
    finally:
        h.close()


def fleet_storm(n=1000, timeout=300):
    """Three relays -> a two-peer Alertmanager cluster -> the edge's HTTP
    intake -> emulator; no faults (test_fleet has them). The time from
    the first socket write until every alert is in the chat."""
    import threading
    import test_fleet as tf
    try:
        realpeers.require_alertmanager()
    except Skip as e:
        print("fleet_storm: skipped: %s" % e)
        return
    port = realpeers.free_port()
    hook = "http://127.0.0.1:%d/api/v1/alertmanager" % port
    cl = realpeers.AlertmanagerCluster(2, webhook_url=hook,
                                       group_by=("alertname",),
                                       group_interval="1s")
    edge, relays = None, []
    try:
        edge = Harness("bench-fleet-edge",
                       extra_conf=realpeers.opsbot_http_conf(port))
        edge.start()
        relays = [tf.Relay("bench%d" % i, cl.urls) for i in range(3)]
        for r in relays:
            r.start()
        per = [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]
        titles = ["fleet r%d n%d" % (i, j) for i in range(3)
                  for j in range(per[i])]
        acked = [[] for _ in relays]
        t0 = time.monotonic()
        ths = [threading.Thread(target=relays[i].stream, args=(
            [tf.storm_alert(i, j) for j in range(per[i])], acked[i]))
            for i in range(3)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        acks = time.monotonic() - t0
        took = None
        while time.monotonic() - t0 < timeout:
            c = tf.count_titles(tf.titles_in(edge), titles)
            if all(c.values()):
                took = time.monotonic() - t0
                break
            time.sleep(0.25)
        st = edge.emu.stats()
        shown = ("all visible after %.1f s" % took if took is not None
                 else "NOT all visible after %d s" % timeout)
        print("fleet storm of %d alerts (3 relays -> 2 Alertmanager peers "
              "-> edge): acked by the relays in %.2f s, %s, %d messages, "
              "%d x 429" % (n, acks, shown, len(edge.emu.messages()),
                            st.get("rate_limited", 0)))
    finally:
        for r in relays:
            r.close()
        if edge:
            edge.close()
        cl.close()


def never_readers(n=200, per_client=40000):
    """Reply amplification (issue 16, item 10): n clients, each of its own
    uid (so the per-uid limit does not turn them away), send per_client
    bytes of 2-byte bad lines and never read a reply. Prints the daemon's
    largest RSS meanwhile and its RSS once they are gone. Needs root (it
    takes the uids 20000..20000+n for the clients)."""
    if os.getuid() != 0:
        print("never-readers: skipped: needs root for one uid per client")
        return
    h = Harness("bench-never", start_emulator=False)
    os.chmod(h.dir, 0o755)
    try:
        h.start()
        os.chmod(h.sock, 0o666)
        pid = h.daemon.pid
        before = mem_kb(pid)
        kids = []
        for i in range(n):
            k = os.fork()
            if k == 0:
                try:
                    os.setgid(20000 + i)
                    os.setuid(20000 + i)
                    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    c.connect(h.sock)
                    c.settimeout(20)
                    try:
                        c.sendall(b"x\n" * (per_client // 2))
                    except OSError:
                        pass
                    time.sleep(3)  # hold it open, read nothing
                finally:
                    os._exit(0)
            kids.append(k)
        peak = before["Rss"]
        end = time.monotonic() + 8
        while time.monotonic() < end:
            peak = max(peak, mem_kb(pid)["Rss"])
            time.sleep(0.05)
        for k in kids:
            os.waitpid(k, 0)
        time.sleep(1)
        after = mem_kb(pid)
        print("never-readers, %d clients x %d bytes of bad lines, no reads:"
              % (n, per_client))
        print("  RSS before %.1f MB, peak %.1f MB, after they closed "
              "%.1f MB (private %.1f MB)" % (before["Rss"] / 1024,
                                             peak / 1024, after["Rss"] / 1024,
                                             after["Private_Dirty"] / 1024))
        print("  still answering:", h.send({"text": "after the flood"}))
    finally:
        h.close()


def main():
    parts = os.environ.get("BENCH", "ingest,latency,storm,six,am_storm,"
                           "http_ingest,metrics_scrape,fleet_storm,memory,"
                           "idle")
    for p in parts.split(","):
        if p == "idle":
            idle(int(os.environ.get("IDLE_SECONDS", "60")))
        else:
            globals()[p]()
        sys.stdout.flush()


if __name__ == "__main__":
    main()

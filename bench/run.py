"""run.py - opsbot's benchmarks (make bench). Prints figures; asserts
nothing. Each part starts its own daemon (and emulator) in a temp dir.

  BENCH=ingest,latency,storm,memory,idle   parts to run (default: all)
  IDLE_SECONDS=600                         idle CPU window (default 60)
"""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import Harness, LineReader, wait_until  # noqa: E402

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


def memory(n=1000000):
    h = Harness("bench-mem", start_emulator=False)
    try:
        h.start()
        time.sleep(1)
        idle = mem_kb(h.daemon.pid)
        per = n // 4
        subprocess.run([os.path.join(BIN, "ingest"), h.sock, "4", str(per),
                        "pipe"], check=True, capture_output=True,
                       timeout=1200)
        time.sleep(2)
        full = mem_kb(h.daemon.pid)
        q = h.cli("status", "--json")
        pending = json.loads(q.stdout)["status"]["queue"]
        print("memory:")
        print("  idle:                          %s" % mem_str(idle))
        print("  %d queued, API down:      %s" % (n, mem_str(full)))
        print("  queue: %s" % {k: v for k, v in pending.items() if v})
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


def main():
    parts = os.environ.get("BENCH", "ingest,latency,storm,memory,idle")
    for p in parts.split(","):
        if p == "idle":
            idle(int(os.environ.get("IDLE_SECONDS", "60")))
        else:
            globals()[p]()
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""run.py - runs every integration test (tests/integration/test_*.py).

Each test is a function test_*(); a failure is an exception. Tests are
independent (own temp dir, emulator and daemon), so they run JOBS at a time
(default 4: they mostly wait on timers), each in its own process; tests
marked @serial (latency assertions) run afterwards, one at a time, on a
quiet machine. Prints one line per test and a closing "N passed, N failed"
line; exits 1 on failure.

Usage: python3 tests/integration/run.py [-j JOBS] [FILTER[,FILTER...]]
(a test runs if its module.name contains any FILTER)
"""
import argparse
import concurrent.futures
import importlib.util
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from marks import Skip  # noqa: E402

SKIPPED = 77  # a test's exit status when it raised Skip


def load(filt):
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fn[:-3],
                                                      os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(dir(mod)):
            f = getattr(mod, name)
            if name.startswith("test_") and callable(f):
                full = "%s.%s" % (fn[:-3], name)
                if any(x in full for x in filt.split(",")):
                    tests.append((full, f))
    return tests


def run_one(full):
    """In a child process: runs one test, exit status says how it went."""
    for name, f in load(""):
        if name == full:
            try:
                f()
                return 0
            except Skip as e:
                print("    skipped: %s" % e)
                return SKIPPED
            except Exception:
                traceback.print_exc()
                return 1
    print("no such test: %s" % full)
    return 1


def spawn(full):
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, __file__, "--one", full],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    return full, p.returncode, p.stdout, time.monotonic() - t0


def report(result, counts):
    full, rc, out, took = result
    if rc == SKIPPED:
        counts[2] += 1
    else:
        counts[rc != 0] += 1
    mark = {0: "ok  ", SKIPPED: "skip"}.get(rc, "FAIL")
    print("%s %-66s %6.2fs" % (mark, full, took), flush=True)
    if out.strip():
        sys.stdout.write(out if rc not in (0, SKIPPED) else "".join(
            l for l in out.splitlines(True) if l.startswith("    ")))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-j", type=int, default=int(os.environ.get("JOBS", "4")))
    ap.add_argument("--one")
    ap.add_argument("filter", nargs="?", default="")
    a = ap.parse_args()
    if a.one:
        return run_one(a.one)
    tests = load(a.filter)
    par = [n for n, f in tests if not getattr(f, "serial", False)]
    ser = [n for n, f in tests if getattr(f, "serial", False)]
    counts = [0, 0, 0]  # passed, failed, skipped
    with concurrent.futures.ThreadPoolExecutor(max(1, a.j)) as ex:
        for r in ex.map(spawn, par):
            report(r, counts)
    for n in ser:
        report(spawn(n), counts)
    print("integration: %d passed, %d failed%s" % (
        counts[0], counts[1], ", %d skipped" % counts[2] if counts[2] else ""))
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main())

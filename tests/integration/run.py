"""run.py - runs every integration test (tests/integration/test_*.py).

Each test is a function test_*(); a failure is an exception. Prints one
line per test and a closing "N passed, N failed" line; exits 1 on failure.
Usage: python3 tests/integration/run.py [substring-filter]
"""
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    filt = sys.argv[1] if len(sys.argv) > 1 else ""
    passed = failed = 0
    names = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fn[:-3],
                                                      os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(dir(mod)):
            if name.startswith("test_") and callable(getattr(mod, name)):
                full = "%s.%s" % (fn[:-3], name)
                if filt in full:
                    names.append((full, getattr(mod, name)))
    for full, fn in names:
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok   %-60s %6.2fs" % (full, time.monotonic() - t0),
                  flush=True)
        except Exception:
            failed += 1
            print("FAIL %-60s %6.2fs" % (full, time.monotonic() - t0),
                  flush=True)
            traceback.print_exc()
    print("integration: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

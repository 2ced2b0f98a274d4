"""`python -m bench`: run every bench/<name>.py module's main() in turn."""
from __future__ import annotations

import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    failed = []
    for path in sorted(here.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        name = f"bench.{path.stem}"
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        try:
            mod = importlib.import_module(name)
            fn = getattr(mod, "main", None)
            if fn is None:
                print(f"   (no main() in {name}; skipped)")
                continue
            rc = fn([]) if inspect.signature(fn).parameters else fn()
            if isinstance(rc, int) and not isinstance(rc, bool) and rc != 0:
                failed.append(name)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                failed.append(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"== {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

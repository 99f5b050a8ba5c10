"""Time ``pilotis demo`` on a fresh SQLite file: first build, then an idempotent refresh.

The reference is the first build: the refresh, which only reads and compares, should cost a
fraction of it. Prints the figures; asserts nothing about time.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pilotis import schema
from pilotis.database import make_engine, write_session
from services.demo import build_demo


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        schema.upgrade(engine)
        timings = []
        for label in ("construction", "rafraîchissement"):
            tracemalloc.start()
            start = time.perf_counter()
            with write_session(engine) as session:
                summary = build_demo(session, "11069", as_of=date(2026, 11, 26))
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            timings.append(elapsed)
            print(
                f"{label:<17} {elapsed:6.2f} s  pic mémoire {peak / 2**20:6.1f} Mio  "
                f"lignes modifiées {summary.stats.changed}"
            )
        print(f"rafraîchissement / construction : {timings[1] / timings[0]:.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()

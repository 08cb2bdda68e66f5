"""Benchmark (not a test): how fast the app opens to an interactive walk list on a demo ward
of 5,000 households (or HOUSEHOLDS), how fast the walk list opens and answers a search, and
how smoothly it scrolls, in the real WebView.

    xvfb-run -a target/e2e-venv/bin/python tests/e2e/bench_startup.py [HOUSEHOLDS] [RUNS]

Prints the figures; asserts nothing about them.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import AppInstance  # noqa: E402

households = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
data = Path(tempfile.mkdtemp(prefix="doorstep-bench-"))
env = {"DOORSTEP_DEMO": str(households)}

t0 = time.perf_counter()
first = AppInstance(data, env)
first.wait("dashboard", timeout=300)
print(f"first start, building the demo ward of {households} households: {time.perf_counter() - t0:.1f} s")
first.close()

# Measured in the page: from a tap to the first frame that shows what it asked for.
OPEN_WALK_LIST = """
const done = arguments[arguments.length - 1];
const t0 = performance.now();
document.querySelector('[data-testid="tab-walk"]').click();
(function poll() {
  if (document.querySelector('[data-testid="household"]')) done(performance.now() - t0);
  else requestAnimationFrame(poll);
})();
"""
SEARCH = """
const [text, done] = [arguments[0], arguments[arguments.length - 1]];
const count = () => document.querySelector('[data-testid="count"]').textContent;
const before = count(), t0 = performance.now();
const box = document.querySelector('[data-testid="search"]');
box.value = text;
box.dispatchEvent(new Event('input', { bubbles: true }));
(function poll() {
  if (count() !== before) done(performance.now() - t0);
  else requestAnimationFrame(poll);
})();
"""

starts, opens, searches = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    app = AppInstance(data, env)
    app.driver.set_script_timeout(60)
    # Session start launches the app; the walk list is interactive when its rows are there.
    app.wait("tab-walk", timeout=60)
    opens.append(app.driver.execute_async_script(OPEN_WALK_LIST) / 1000)
    starts.append(time.perf_counter() - t0)
    searches.append(app.driver.execute_async_script(SEARCH, "ngo 1") / 1000)
    app.driver.execute_async_script(SEARCH, "")
    frames = app.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const box = document.querySelector('[data-testid="virtual"]');
        const times = [];
        let last = performance.now(), step = 0;
        function frame(now) {
          times.push(now - last); last = now;
          box.scrollTop += 400; step += 1;
          if (step < 120) requestAnimationFrame(frame); else done(times.slice(1));
        }
        requestAnimationFrame(frame);
        """
    )
    rows = app.driver.execute_script("return document.querySelectorAll('[data-testid=household]').length")
    app.close()

print(f"start to interactive walk list (session start included), {runs} runs: "
      f"median {statistics.median(starts):.2f} s, max {max(starts):.2f} s")
print(f"walk list opened (tap to rows shown): median {statistics.median(opens):.2f} s, "
      f"max {max(opens):.2f} s")
print(f"a search typed to its count shown: median {statistics.median(searches):.2f} s, "
      f"max {max(searches):.2f} s")
frames.sort()
print(f"scrolling 120 frames of 400 px: median frame {statistics.median(frames):.1f} ms, "
      f"p95 {frames[int(len(frames) * 0.95)]:.1f} ms; rows in the DOM: {rows}")

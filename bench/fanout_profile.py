"""Where a livechat worker spends its time under the capacity load: py-spy, summarized.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``); this keeps
them in ``bench/results/fanout-profile-<label>.txt`` and reduces them to the top functions by
own time (the frame on top of the stack) and by total time (anywhere in the stack, once per
sample), which is what docs/performance.md quotes before and after an optimization.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.fanout_servers import RESULTS

TOP = 15
#: ``function (path/to/module.py:123)`` -> ``function (module.py)``: lines differ per sample.
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<path>[^:)]*)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["path"]
    for marker in ("site-packages/", "/app/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/app/":
                path = "app/" + path
            break
    return f"{match['fn']} ({path})"


def summarize(collapsed: str) -> dict[str, Any]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    share = (lambda n: round(100 * n / samples, 1)) if samples else (lambda n: 0.0)
    return {
        "samples": samples,
        "own": [(name, share(n)) for name, n in own.most_common(TOP)],
        "total": [(name, share(n)) for name, n in total.most_common(TOP)],
    }


def profile_worker(pid: int, seconds: int, label: str) -> dict[str, Any]:
    """Sample ``pid`` for ``seconds``; idle time (greenlets waiting in the hub) is excluded."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = RESULTS / f"fanout-profile-{label.replace('@', '-')}.txt"
    done = subprocess.run(
        [
            *(py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250"),
            *("--format", "raw", "--output", str(raw), "--nonblocking"),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode or not raw.exists():
        return {"error": f"py-spy failed: {(done.stderr or done.stdout).strip()[-300:]}"}
    summary = summarize(raw.read_text())
    summary["file"] = str(raw.relative_to(RESULTS.parents[1]))
    lines = [f"{label}: {summary['samples']} samples; own time:"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary["own"]]
    lines += ["total time (inclusive):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary["total"]]
    print("\n".join(lines), file=sys.stderr, flush=True)
    return summary

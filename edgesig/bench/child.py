"""The process timed by the cold-start benchmark: start, import, load, verify once, exit.

It runs as ``python -c "import time; t0 = time.time(); from edgesig.bench.child import
main; main(t0)" JOB.json`` so the first timestamp is taken before edgesig is imported.
It reports wall-clock timestamps (the parent subtracts its own spawn time) and the peak
resident set size, as one JSON line on stdout.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

BOOTSTRAP = "import time; t0 = time.time(); from edgesig.bench.child import main; main(t0)"


def peak_rss_mib() -> float:
    """Peak resident set size of this process.

    Linux: ``VmHWM`` from /proc/self/status, the high-water mark of this program's own
    memory. Not ``ru_maxrss``: Linux carries it across exec, so a child started from a
    large parent reports the parent's peak. Elsewhere ``ru_maxrss`` (bytes on macOS).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(t0: float) -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    import numpy as np

    import edgesig
    out = {"t0": t0, "import": time.time()}
    if job.get("engine"):
        out.update(_verify_once(job, np, edgesig))
    out["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(out), flush=True)


def _verify_once(job: dict, np, edgesig) -> dict:
    from edgesig.store import MemoryStore, Template
    store = MemoryStore()
    if job["modality"] == "pen":
        verifier = edgesig.Verifier(job["engine"], store, models_dir=job["models_dir"], threads=job["threads"])
    else:
        verifier = edgesig.Verifier(image_engine=job["engine"], store=store, models_dir=job["models_dir"],
                                    threads=job["threads"])
        verifier.engine(verifier.image_engine_name)
    loaded = time.time()
    store.put(Template.from_bytes(Path(job["template"]).read_bytes()))
    data = np.load(job["query"])
    if job["modality"] == "pen":
        pen = edgesig.PenStream.from_arrays(data["x"], data["y"], data["t"], data["pressure"], data["pen_down"])
        result = verifier.verify_stroke(job["user"], pen)
    else:
        result = verifier.verify_image(job["user"], data["image"])
    return {"loaded": loaded, "first_result": time.time(), "accepted": result.accepted}

"""The projection worker process: results and errors come back as Futures, and it never delays shutdown."""
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.services.maps import Worker

ROOT = Path(__file__).resolve().parents[1]


def test_results_and_errors_come_back_as_futures():
    worker = Worker()
    assert worker.submit(math.sqrt, 16.0).result(timeout=60) == 4.0
    with pytest.raises(ValueError):
        worker.submit(math.sqrt, -1.0).result(timeout=60)


@pytest.mark.slow  # starts a server process and its worker
@pytest.mark.parametrize("queued", [
    "",  # a server stopped during the UMAP compile must exit at once, not when the compile ends
    "[w.submit(np.sum, np.ones((2000, 384), np.float32)) for _ in range(8)]; ",  # maps queued behind it: no flush wait
])
def test_a_busy_worker_does_not_hold_up_the_server_exit(queued):
    code = ("import time, numpy as np; from app.services.maps import Worker; w = Worker(); "
            f"w.submit(time.sleep, 120); {queued}time.sleep(3)")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    assert time.perf_counter() - start < 30

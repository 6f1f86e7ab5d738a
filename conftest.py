"""Test session set-up shared by unit, claim and notebook tests.

Nothing writes into $HOME: matplotlib, Jupyter, IPython and torch's inductor caches point at a
temporary folder for the session, and notebooks run in the quick profile with a headless
matplotlib backend unless the caller chose otherwise.
"""

import os
import tempfile
from pathlib import Path

_tmp = Path(tempfile.mkdtemp(prefix="course-test-"))
for var, sub in {
    "MPLCONFIGDIR": "mpl",
    "IPYTHONDIR": "ipython",
    "JUPYTER_CONFIG_DIR": "jupyter-config",
    "JUPYTER_DATA_DIR": "jupyter-data",
    "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
    "TORCHINDUCTOR_CACHE_DIR": "inductor",
}.items():
    os.environ.setdefault(var, str(_tmp / sub))
os.environ.setdefault("COURSE_PROFILE", "quick")
# pytest-xdist runs one worker per core: one thread per worker (and per notebook kernel) avoids
# oversubscribing the cores, which slows small tensor operations by an order of magnitude.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

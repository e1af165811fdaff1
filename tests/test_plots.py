"""Plotting leaves the caller's matplotlib alone: no backend switch, no pyplot figures."""

from __future__ import annotations

import subprocess
import sys


def test_plots_do_not_touch_pyplot_or_the_backend(tmp_path) -> None:
    code = (
        "import matplotlib; matplotlib.use('svg'); import sys\n"
        "import numpy as np\n"
        "from nas_rlm.plots.pareto import plot_pareto\n"
        "paths = plot_pareto(__import__('pathlib').Path(sys.argv[1]), ['acc', 'lat'],\n"
        "                    np.array([[90.0, 3.0], [92.0, 6.0]]))\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert all(p.stat().st_size > 0 for p in paths)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    assert (tmp_path / "pareto.png").is_file() and (tmp_path / "pareto.svg").is_file()

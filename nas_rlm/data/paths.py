"""Where the data tables live.

One resolution rule for the whole project (CLI, API, tests) so that a user who set
the directory once never has it silently ignored: ``--data-dir`` flag, then the
``NAS_RLM_DATA`` environment variable, then a per-user default that
``nas-rlm data pull`` fills.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from nas_rlm.errors import DataError

DATA_ENV_VAR = "NAS_RLM_DATA"
"""Environment variable naming the data directory."""


def default_data_dir() -> Path:
    """The per-user data directory that ``nas-rlm data pull`` writes to by default.

    Computed on each call (not at import) so that ``XDG_DATA_HOME`` and friends set
    after import are honoured.
    """
    return Path(platformdirs.user_data_dir("nas-rlm")) / "data"


def resolve_data_dir(flag: str | os.PathLike[str] | None = None, must_exist: bool = True) -> Path:
    """The data directory: ``flag`` (``--data-dir``), else ``$NAS_RLM_DATA``, else the default.

    Only the first one that is set is considered: falling through to the next
    source when the chosen directory is missing would hide a typo.  An empty
    string counts as unset.

    Raises:
        DataError: ``must_exist`` and the chosen path is not a directory.  The
            message names all three sources, the one that was used, and
            ``nas-rlm data pull``.
    """
    env = os.environ.get(DATA_ENV_VAR, "")
    default = default_data_dir()
    if flag is not None and os.fspath(flag) != "":
        path, source = Path(flag), "--data-dir"
    elif env:
        path, source = Path(env), f"${DATA_ENV_VAR}"
    else:
        path, source = default, "the default"
    path = path.expanduser().resolve()
    if must_exist and not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise DataError(
            f"data directory {path} (from {source}) {what}. nas-rlm looks for its data in, "
            f"in order: the --data-dir flag, the {DATA_ENV_VAR} environment variable, "
            f"then the default {default}. Point one of them at a directory holding the "
            f"tables, or download them with `nas-rlm data pull`."
        )
    return path

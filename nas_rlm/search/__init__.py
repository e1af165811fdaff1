"""Multi-objective NAS on a surrogate with pymoo (DESIGN §1.4).

``run_search`` with a ``SearchConfig`` is the entry point; the pieces (objective parsing,
the cached pymoo ``Problem``, algorithms with categorical operators, indicators, the
:class:`FrontScorer`) are usable on their own.
"""

from .algorithms import ALGORITHMS, RandomResetMutation, make_algorithm, reference_directions
from .indicators import front_metrics, hypervolume, non_dominated, normalize
from .objectives import (
    Constraint,
    Objective,
    SearchSpecError,
    parse_constraint,
    parse_constraints,
    parse_objectives,
)
from .problem import PredictionCache, SurrogateProblem
from .run import SearchConfig, SearchResult, run_search
from .truth import FrontScorer, TrueTable, load_true_table

__all__ = [
    "ALGORITHMS",
    "Constraint",
    "FrontScorer",
    "Objective",
    "PredictionCache",
    "RandomResetMutation",
    "SearchConfig",
    "SearchResult",
    "SearchSpecError",
    "SurrogateProblem",
    "TrueTable",
    "front_metrics",
    "hypervolume",
    "load_true_table",
    "make_algorithm",
    "non_dominated",
    "normalize",
    "parse_constraint",
    "parse_constraints",
    "parse_objectives",
    "reference_directions",
    "run_search",
]

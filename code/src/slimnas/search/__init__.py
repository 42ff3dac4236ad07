"""Architecture search with Optuna: a YAML search space, macro-F1 vs MACs, a budget gate, early stopping."""

from .objective import Budget, Objective
from .pruning import DominancePruner, RungPruner
from .report import pareto_front, write_report
from .score import competition_score
from .space import SearchSpace, load_search_space
from .study import SearchConfig, open_study, run_search

__all__ = ["Budget", "DominancePruner", "RungPruner", "Objective", "SearchConfig", "SearchSpace", "competition_score",
           "load_search_space", "open_study", "pareto_front", "run_search", "write_report"]

"""Recommenders in scikit-learn style that feed recommendation attributes into engagekit templates."""

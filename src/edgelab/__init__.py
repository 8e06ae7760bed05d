"""edgelab: deep-learning market prediction that tells the truth about its results.

Pipeline: sources -> Bars -> features / labels -> Samples -> models -> Predictions
-> policy -> Positions -> backtest -> metrics and report. See ARCHITECTURE in the README.
"""

__version__ = "0.1.0"

"""The training campaign: data, configs, run folders, training (lone, swept, ensembled), evaluation.

Built on the core (:mod:`sot_utils`); never imported by it. Modules: ``data`` (the synthetic
dataset), ``config`` (a run's resolved configuration), ``checkpoint`` (run folders on disk),
``train``, ``sweep``, ``ensemble``, ``evaluate``, ``estimate`` (f0 of users' audio).
"""

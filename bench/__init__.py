"""Performance bench for sheets-sync: ``python -m bench`` (see bench/README.md).

A seeded generator (:mod:`bench.workload`) writes a realistic agency workspace (lead log,
one returns workbook per client with messy pastes, config), cached by its parameters; the
runner (:mod:`bench.__main__`) times each phase of a sync in a fresh subprocess and prints
every target beside its figure.
"""

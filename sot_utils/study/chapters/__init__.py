"""The study's chapters: one module per numbered notebook, named after it (``notebooks/0N_<name>.ipynb``
-> ``sot_utils.study.chapters.<name>``).

Each chapter module computes what its notebook shows and the notebook narrates, calls and shows:

- functions that compute the chapter's tables (``pandas.DataFrame``, the files under ``results/``);
- ``findings(...)``: the "What this shows" text (Markdown) with the numbers read from those tables;
- figure functions that draw from the tables.
"""

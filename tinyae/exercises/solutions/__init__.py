"""The solved exercises, one module each: the single source of the student files and notebooks.

The lines between ``# BEGIN YOUR CODE`` and ``# END YOUR CODE`` are what a student writes; everything
else is handed out as it is (see tinyae/exercises/source.py). Each module passes its own check:
``python -m tinyae.exercises.solutions.dense``.
"""

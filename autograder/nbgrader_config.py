"""nbgrader configuration for the course (https://nbgrader.readthedocs.io/en/stable/configuration/).

nbgrader reads this file only from the working directory, so plain `nbgrader ...` commands are
run from `autograder/` (the course directory). `python -m autograder` loads the same file for
its release and grading steps; settings that the harness decides per run (timeouts, kernel,
scores) are overridden there, see autograder/README.md.
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets)

# The course id matters only to nbgrader's exchange (release_assignment, fetch_assignment,
# submit, collect) and JupyterHub; the local commands (generate_assignment, autograde,
# formgrader, export) and the harness run without one. Set NBGRADER_COURSE_ID (or pass
# --course) to your course's id; unset, nbgrader's default (none) applies.
if os.environ.get("NBGRADER_COURSE_ID"):
    c.CourseDirectory.course_id = os.environ["NBGRADER_COURSE_ID"]
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*",
    "post_grade.json",  # the harness's out-of-process checks; not part of the release
]

# Student stub for every `### BEGIN SOLUTION` region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding (plain nbgrader; the harness sets per-run timeouts itself).
c.Execute.timeout = 600                 # seconds per cell; training cells need minutes on CPU
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
c.OverwriteCells.add_missing_cells = True   # restore deleted test cells from the gradebook
# nbgrader's sanitising steps, with its OverwriteCells replaced by the course's subclass
# (autograder/nbgrader_plain.py): the same restoring of locked cells and hidden tests, without the
# "checksum has changed" warning on every untouched test cell that has hidden tests, and without
# failing on 06's gate line (a grade line with no cell) once `python -m autograder gate` wrote it.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.nbgrader_plain.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
# nbgrader gives 0 to a test cell with any stderr output; drop warnings and progress bars.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"Warning|warn\(|\d+%\||it/s\]|s/it\]"

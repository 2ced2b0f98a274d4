"""nbgrader configuration for the course (https://nbgrader.readthedocs.io/en/stable/configuration/).

nbgrader reads this file only from the working directory, so plain `nbgrader ...` commands are
run from `autograder/` (the course directory). `python -m autograder` loads the same file for
its release and grading steps; settings that the harness decides per run (timeouts, kernel,
scores) are overridden there, see autograder/README.md.
"""
c = get_config()  # noqa: F821  (injected by traitlets)

c.CourseDirectory.course_id = "diffusion-course"
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
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
# nbgrader gives 0 to a test cell with any stderr output; drop warnings and progress bars.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"Warning|warn\(|\d+%\||it/s\]|s/it\]"

"""Research labs: each a package reproducing one source's experiments with the core library.

``shift_scale`` (lab 09): shift and scale layers against batch norm, the 2018 thesis.
``merging`` (lab 10): merging two trained teachers into one student with relaxed L0 gates.

Labs import the core (``course_lib.*``) and never each other nor ``course_lib.lectures``.
"""

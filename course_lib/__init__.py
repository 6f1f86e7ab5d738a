"""course_lib: the library behind the course "Training Deep Neural Networks".

Every from-scratch piece is written as the formula on the slide and tested against PyTorch.
Notebooks start with ``course = course_lib.setup(lang="sk" | "sr" | "ru")``.
"""

from .course import Course, setup
from .i18n import LANGUAGES, CourseError, t

__all__ = ["Course", "CourseError", "LANGUAGES", "setup", "t"]
__version__ = "0.1.0"

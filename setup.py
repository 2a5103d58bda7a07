"""Packaging beyond what pyproject.toml can say: the wheel carries the lessons.

The lessons' source stays the top-level ``lessons/`` folder (scripts a reader
runs and opens as notebooks); the wheel installs the same files as
``pooledu/_lessons/``, where ``pooledu.lessons`` finds them when there is no
source checkout around the package.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["pooledu", "pooledu.*"]) + ["pooledu._lessons"],
    package_dir={"pooledu._lessons": "lessons"},
    package_data={"pooledu._lessons": ["*.py", "exercises/*.py", "solutions/*.py",
                                       "results/*.json"],
                  "pooledu.explorer": ["page.html", "page.css", "page.js"]},
)

# All metadata lives in pyproject.toml; this shim only serves tools that still call setup.py.
from setuptools import setup

setup()

"""Package layout (metadata lives in setup.cfg).

The repo keeps ``cli/`` and ``cl_kernels/`` at the top level, but they install inside the ``clnet``
namespace (``clnet.cli`` and ``clnet.cl_kernels``) so a wheel never puts a module called ``cli``
into site-packages. setup.cfg cannot combine ``find:`` with explicit entries, hence this file: every
``clnet/**/__init__.py`` package is found automatically, so new subpackages need no edit here.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["clnet", "clnet.*"]) + ["clnet.cli", "clnet.cl_kernels"],
    package_dir={"clnet.cli": "cli", "clnet.cl_kernels": "cl_kernels"},
)

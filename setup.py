"""What pyproject.toml cannot say alone: the shipped models.

The repository keeps them at its top level (weights/*.h5, cfg/*.cfg|yaml: the layout users and
the docs know); an installed darkpy carries them inside the package as darkpy/weights and
darkpy/cfg, where darkpy.upscale.models looks first.
"""
from setuptools import find_packages, setup

SHIPPED = {"darkpy.weights": "weights", "darkpy.cfg": "cfg"}

setup(
    packages=find_packages(include=["darkpy", "darkpy.*"]) + list(SHIPPED),
    package_dir=SHIPPED,
    package_data={"darkpy": ["py.typed"], "darkpy.weights": ["*.h5"], "darkpy.cfg": ["*.cfg", "*.yaml"]},
)

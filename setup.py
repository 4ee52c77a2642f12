"""The one compiled part, `ra.events._speedups`, is optional: a build
without a C compiler installs ra without it, and ra runs its Python loop."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ra.events._speedups",
            ["ra/events/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)

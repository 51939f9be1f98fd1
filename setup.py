"""The compiled analysis kernels (src/racesense/analysis/kernels/*.pyx), built by Cython
when the package is built or installed. Everything else about the package is in
pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ("fixes", "lines", "lttb", "projection")


class BuildExt(build_ext):
    """The kernels compiled side by side (a few seconds each), and without fused
    multiply-add contraction: a*b + c rounded twice, as the source says, so every
    platform computes the same numbers (clang contracts by default on arm64; MSVC does
    not contract unless asked)."""

    def build_extensions(self) -> None:
        self.parallel = self.parallel or True  # True: one job per core
        if self.compiler.compiler_type != "msvc":
            for ext in self.extensions:
                ext.extra_compile_args.append("-ffp-contract=off")
        super().build_extensions()


setup(
    ext_modules=cythonize(
        [
            Extension(
                f"racesense.analysis.kernels.{name}",
                [f"src/racesense/analysis/kernels/{name}.pyx"],
            )
            for name in KERNELS
        ]
    ),
    cmdclass={"build_ext": BuildExt},
)

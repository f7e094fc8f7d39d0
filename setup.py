"""Build the native quantized-matmul kernels with the system C compiler.

The extension is optional at run time: `datashark.native` falls back to NumPy when it is missing
or when DATASHARK_NO_NATIVE=1. A failed compile must not fail the install, so build_ext is wrapped.
"""

import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure leaves the NumPy path
            print(f"warning: native kernels not built ({exc}); the NumPy fallback will be used")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"warning: native kernels not built ({exc}); the NumPy fallback will be used")


march = os.environ.get("DATASHARK_MARCH", "native")
setup(
    ext_modules=[
        Extension(
            "datashark.native._kernels",
            sources=sorted(str(p) for p in Path("src/datashark/native").glob("*.c")),
            extra_compile_args=["-O3", f"-march={march}", "-fopenmp", "-pthread", "-std=c11"],
            extra_link_args=["-fopenmp", "-pthread"],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)

"""Run firmware tests under MicroPython (or CPython): plain `def test_*():` functions.

    cd $(mktemp -d)
    MICROPYPATH=<repo>/firmware:<repo>/firmware/tests:<repo>/firmware/tests/stubs \\
        micropython <repo>/firmware/tests/mpy_run.py [test_module ...]

With no names it runs every MicroPython-compatible test file beside it (see `discover`).
Each test function runs in a fresh empty directory below the starting directory, so tests
may write files by relative path (under pytest, conftest.py gives each test a fresh
tmp_path as its working directory: the same tests work in both). A test that returns a
coroutine (`async def test_...`) is run with asyncio.run. Module-level
`setup_function(fn)` / `teardown_function(fn)` run around each test, as in pytest.

The last line is `N passed, N failed` (CI reads it); the exit status is 1 when a test
failed, a module did not import, or no test ran at all.
"""

import os
import sys

CPYTHON_ONLY_MARK = "# cpython-only"

# MICROPYPATH replaces MicroPython's whole default path, and with it ".frozen", where the
# unix port keeps asyncio and the other bundled modules.
if sys.implementation.name == "micropython" and ".frozen" not in sys.path:
    sys.path.append(".frozen")


def _is_micropython_compatible(path):
    """A test file runs under MicroPython unless its first line is `# cpython-only` or it
    imports pytest (fixtures, marks and raises helpers do not exist there)."""
    with open(path) as f:
        first = True
        for line in f:
            stripped = line.strip()
            if first and stripped.startswith(CPYTHON_ONLY_MARK):
                return False
            first = False
            if stripped.startswith("import pytest") or stripped.startswith("from pytest"):
                return False
    return True


def _dirname(path):
    cut = path.rfind("/")
    return path[:cut] if cut > 0 else "."


def tests_dir():
    return _dirname(__file__)


def discover(directory=None):
    """Module names of the MicroPython-compatible test_*.py files in `directory`, sorted."""
    directory = directory or tests_dir()
    names = []
    for name in os.listdir(directory):
        is_test = name.startswith("test_") and name.endswith(".py")
        if is_test and _is_micropython_compatible(directory + "/" + name):
            names.append(name[:-3])
    names.sort()
    return names


def _print_exception(exc):
    if hasattr(sys, "print_exception"):  # MicroPython
        sys.print_exception(exc)
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)


def _is_coroutine(value):
    # MicroPython's coroutines are generators; CPython's have send/throw as well.
    return value is not None and hasattr(value, "send") and hasattr(value, "throw")


def _run_one(module, name, workdir):
    fn = getattr(module, name)
    setup = getattr(module, "setup_function", None)
    teardown = getattr(module, "teardown_function", None)
    home = os.getcwd()
    path = workdir
    suffix = 0
    while True:  # a fresh directory, even if an earlier run left one of the same name
        try:
            os.mkdir(path)
            break
        except OSError:
            suffix += 1
            path = f"{workdir}_{suffix}"
    os.chdir(path)
    try:
        if setup:
            setup(fn)
        try:
            result = fn()
            if _is_coroutine(result):
                import asyncio

                asyncio.run(result)
        finally:
            if teardown:
                teardown(fn)
    finally:
        os.chdir(home)


def run(module_names):
    """Run the tests of `module_names`; returns (passed, failed)."""
    passed = failed = 0
    base = os.getcwd()
    counter = 0
    for module_name in module_names:
        try:
            module = __import__(module_name)
        except Exception as exc:
            print("FAIL", module_name, "(import)")
            _print_exception(exc)
            failed += 1
            continue
        names = [n for n in dir(module) if n.startswith("test_")]
        names.sort()
        for name in names:
            if not callable(getattr(module, name)):
                continue
            counter += 1
            label = module_name + "." + name
            try:
                _run_one(module, name, f"{base}/t{counter:03d}_{name}")
            except Exception as exc:
                print("FAIL", label)
                _print_exception(exc)
                failed += 1
            else:
                print("ok  ", label)
                passed += 1
    return passed, failed


def main(argv):
    names = []
    for arg in argv:
        name = arg[arg.rfind("/") + 1 :]
        names.append(name[:-3] if name.endswith(".py") else name)
    names = names or discover()
    passed, failed = run(names)
    if passed + failed == 0:
        print("no tests ran")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

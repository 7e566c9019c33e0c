"""Stop `make` with one line when its interpreter is outside pyproject.toml's requires-python.

Run by the interpreter given to make (PYTHON=) before a venv or pip exists, so it needs only
the standard library of any Python 3 and takes the supported range from pyproject.toml.
Usage: python scripts/check_python.py [make target named in the message]
"""

import operator
import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
OPERATORS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
CLAUSE = re.compile(r"\s*(>=|<=|==|!=|<|>)\s*(\d+(?:\.\d+)*)\s*")


def requires_python(pyproject):
    match = re.search(r'^requires-python\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
    if match is None:
        raise SystemExit(f"rnnlab: {pyproject} has no requires-python line")
    return match.group(1)


def satisfies(version, spec):
    """Whether a version tuple meets every clause, compared at each bound's precision."""
    for clause in spec.split(","):
        match = CLAUSE.fullmatch(clause)
        if match is None:
            raise SystemExit(f"rnnlab: requires-python clause {clause!r} is not 'op X.Y'")
        bound = tuple(int(part) for part in match.group(2).split("."))
        if not OPERATORS[match.group(1)](tuple(version[: len(bound)]), bound):
            return False
    return True


def supported_minors(spec):
    return [f"3.{minor}" for minor in range(50) if satisfies((3, minor, 0), spec)]


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "install"
    spec = requires_python(PYPROJECT)
    version = tuple(sys.version_info[:3])
    if satisfies(version, spec):
        return
    minors = supported_minors(spec)
    print(
        f"rnnlab: Python {'.'.join(map(str, version))} ({sys.executable}) is not supported: it"
        f" needs {minors[0]} to {minors[-1]} (pyproject.toml requires-python {spec});"
        f" install one and name it, e.g. make {target} PYTHON=python{minors[-1]}",
        file=sys.stderr,
    )
    sys.exit(1)


if __name__ == "__main__":
    main()

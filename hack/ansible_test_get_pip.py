# Offline stand-in for the get-pip bootstrap script that ansible-test downloads from its own CI file host
# (unreachable without general internet access) to put pip into the empty virtualenvs of sanity tests.
# hack/run-sanity installs a copy as ~/.ansible/test/cache/get_pip_<X_Y>.py next to the pip <X.Y> wheel,
# fetched from PyPI; like get-pip.py it runs `pip install --upgrade --force-reinstall <args>` with pip
# imported straight from that wheel (pip supports running from its wheel).
from __future__ import annotations

import glob
import os
import sys


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    version = os.path.splitext(os.path.basename(__file__))[0].replace("get_pip_", "").replace("_", ".")
    wheels = glob.glob(os.path.join(here, f"pip-{version}-*.whl"))
    if not wheels:
        sys.stderr.write(f"get_pip: no pip {version} wheel beside {__file__}\n")
        return 1

    args = []
    want_setuptools = want_wheel = True
    for arg in sys.argv[1:]:
        if arg == "--no-setuptools":
            want_setuptools = False
        elif arg == "--no-wheel":
            want_wheel = False
        else:
            args.append(arg)
    names = [arg.split("=")[0].split("<")[0].split(">")[0].lower() for arg in args if not arg.startswith("-")]
    for name, wanted in (("pip", True), ("setuptools", want_setuptools), ("wheel", want_wheel)):
        if wanted and name not in names:
            args.append(name)

    sys.path.insert(0, wheels[0])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    return pip_main(["install", "--upgrade", "--force-reinstall"] + args)


if __name__ == "__main__":
    sys.exit(main())

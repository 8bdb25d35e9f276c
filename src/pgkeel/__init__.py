"""pgkeel: the hardened PostgreSQL + Redis data layer for Python services.

The library is one package per capability (`pgkeel.db`, `pgkeel.repo`, `pgkeel.cache`, ...);
`__version__` is the installed distribution's version.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pgkeel")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]

"""Imports every gliopet module (the fault-injection server preloads it: `support.faults`).

A forked run then uses the code as it was when the server started, even where gliopet imports a
module inside a function and the working tree changes during a long run.
"""

from __future__ import annotations

import importlib
import pkgutil

import gliopet

MODULES = [importlib.import_module(m.name).__name__
           for m in pkgutil.walk_packages(gliopet.__path__, "gliopet.")]

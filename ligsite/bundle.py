"""A tiny bundler: the viewer's ES modules -> one classic script for single-file pages.

ES modules do not run from ``file://``, so ``--single-file`` needs one plain script. The viewer
keeps to a subset that makes bundling a text operation: relative single-specifier imports
(``import { a, b } from "./x.js";``), ``export`` only as a prefix of a top-level declaration,
and top-level names unique across modules. Modules are concatenated in dependency order with
import lines removed and ``export`` prefixes stripped, inside one strict-mode function.
Anything outside the subset is a SiteError naming the module, never a silently broken bundle.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from ligsite.errors import SiteError

IMPORT = re.compile(r"^import\s*\{[^}]*\}\s*from\s*[\"']\./([\w.-]+\.js)[\"'];?[ \t]*\n?", re.M)
OTHER_IMPORT = re.compile(r"^\s*import\b|\bimport\s*\(", re.M)
EXPORT = re.compile(r"^export\s+(?=(?:async\s+)?function|const|let|class)", re.M)
BAD_EXPORT = re.compile(r"^export\s+(?!(?:async\s+)?function|const|let|class)", re.M)
TOP_LEVEL = re.compile(r"^(?:export\s+)?(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)", re.M)


def module_imports(source: str) -> list[str]:
    """File names a module imports (``./x.js`` -> ``x.js``), in order."""
    return IMPORT.findall(source)


def dependency_order(modules: dict[str, str], entry: str) -> list[str]:
    """Modules reachable from ``entry``, each after everything it imports (depth-first)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name not in modules:
            raise SiteError(f"{chain[-1] if chain else 'bundle'} imports {name!r}, which is not a "
                            f"viewer module; modules: {', '.join(sorted(modules))}")
        if name in visiting:
            raise SiteError(f"import cycle: {' -> '.join(chain + (name,))}")
        visiting.add(name)
        for dependency in module_imports(modules[name]):
            visit(dependency, chain + (name,))
        visiting.discard(name)
        order.append(name)

    visit(entry, ())
    return order


def strip_module(name: str, source: str) -> str:
    """One module's body as classic-script text: imports removed, ``export`` prefixes dropped."""
    body = IMPORT.sub("", source)
    if OTHER_IMPORT.search(body):
        raise SiteError(f"web/{name}: only `import {{ ... }} from \"./x.js\";` can be bundled")
    if BAD_EXPORT.search(body):
        raise SiteError(f"web/{name}: only `export function|const|let|class` can be bundled")
    return EXPORT.sub("", body)


def bundle_modules(modules: dict[str, str], entry: str) -> str:
    """The modules reachable from ``entry`` as one script; top-level names must be unique."""
    order = dependency_order(modules, entry)
    owners: dict[str, str] = {}
    for name in order:
        for top in TOP_LEVEL.findall(modules[name]):
            if top in owners:
                raise SiteError(f"top-level name {top!r} is defined in both web/{owners[top]} and "
                                f"web/{name}; rename one so the single-file bundle can hold both")
            owners[top] = name
    parts = [f"// ---- {name} ----\n{strip_module(name, modules[name])}" for name in order]
    return '(function () {\n"use strict";\n' + "\n".join(parts) + "\n})();\n"


def inline_script(source: str) -> Markup:
    """Script text safe to place between <script> tags, or a SiteError if it cannot be."""
    if re.search(r"</script|<!--", source, re.I):
        raise SiteError("script text contains '</script' or '<!--' and cannot be inlined safely")
    return Markup(source)

"""The single-file bundler: dependency order, stripped module syntax, refusals with reasons."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ligsite.bundle import bundle_modules, dependency_order, inline_script, strip_module
from ligsite.errors import SiteError
from ligsite.site import _modules

MODULES = {
    "main.js": 'import { b } from "./b.js";\nimport { a, A } from "./a.js";\nconsole.log(a() + b() + A);\n',
    "b.js": 'import {\n  a,\n} from "./a.js";\nexport function b() { return a() * 2; }\n',
    "a.js": "export const A = 1;\nexport function a() { return A + 1; }\n",
}


def test_modules_come_after_what_they_import():
    assert dependency_order(MODULES, "main.js") == ["a.js", "b.js", "main.js"]


def test_bundle_strips_imports_and_exports_and_runs():
    bundle = bundle_modules(MODULES, "main.js")
    assert "import" not in bundle and "export" not in bundle
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the browser tests run the real bundle")
    result = subprocess.run([node, "-e", bundle], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "7"


def test_the_viewer_bundles_with_unique_top_level_names():
    bundle = bundle_modules(_modules(), "main.js")
    assert bundle.count("// ---- main.js ----") == 1 and bundle.rstrip().endswith("})();")


@pytest.mark.parametrize("modules, message", [
    ({**MODULES, "b.js": "export const A = 2;\nexport function b() { return A; }\n"}, "defined in both"),
    ({**MODULES, "a.js": 'import { b } from "./b.js";\nexport const A = 1;\nexport function a() { return b; }\n'},
     "import cycle"),
    ({**MODULES, "main.js": 'import { z } from "./z.js";\n'}, "not a viewer module"),
])
def test_unbundleable_modules_are_refused_with_the_reason(modules, message):
    with pytest.raises(SiteError, match=message):
        bundle_modules(modules, "main.js")


@pytest.mark.parametrize("source", ['import d3 from "d3";\n', "export default 1;\n", "const m = import('./x.js');\n"])
def test_module_syntax_outside_the_subset_is_refused(source):
    with pytest.raises(SiteError):
        strip_module("x.js", source)


def test_script_text_that_could_close_its_tag_is_refused():
    with pytest.raises(SiteError):
        inline_script('const s = "</script>";')

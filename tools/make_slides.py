"""Write reveal.js slides of the notebooks that work offline: every script and style is local.

    python tools/make_slides.py                            # every notebook, every language
    python tools/make_slides.py notebooks/sk/01_*.ipynb    # some notebooks
    python tools/make_slides.py --out build/slides         # the default folder

Decks go to <out>/<lang>/<name>.slides.html. nbconvert's reveal template loads reveal.js,
MathJax, jQuery and require.js from CDNs; here they are copied once into <out>/assets/ from
pinned packages of requirements.txt (reveal.js 6 from pyreveal, which has no dependencies;
MathJax 2.7, jQuery and require.js from nbclassic, whose classic notebook loads the same
files), and every deck points at them by a relative URL: <out>/ can be copied to a USB stick
and opened from the file system with no network. The two things the template would still
fetch from a CDN, the mermaid module and the widget manager, are left out (no notebook has a
mermaid diagram, and explorers show their static figure in a deck).
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from notebook_io import LANGS, NOTEBOOKS, ROOT

OUT = ROOT / "build" / "slides"

ASSETS = {  # path under <out>/assets -> (package, path inside the installed package)
    "reveal.js/dist": ("pyreveal", "revealjs/dist"),
    "reveal.js/plugin/notes/notes.js": ("pyreveal", "revealjs/dist/plugin/notes.js"),
    "reveal.js/LICENSE": ("pyreveal", "revealjs/LICENSE"),
    "mathjax": ("nbclassic", "static/components/MathJax"),
    "jquery/jquery.min.js": ("nbclassic", "static/components/jquery/jquery.min.js"),
    "requirejs/require.js": ("nbclassic", "static/components/requirejs/require.js"),
}
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

# nbconvert's reveal template without its two remote loads (see the module docstring), with
# MathJax drawing SVG in the STIX-Web font, the one the bundled MathJax ships (SVG needs no
# web font, which a browser may refuse to load from the file system), headings in the case
# they are written in (reveal's white theme would capitalize them) and long code lines wrapped
# instead of cut at the slide's right edge.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}
{{ super() }}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({SVG: {font: "STIX-Web"},
                    "HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null}});
MathJax.Hub.Register.StartupHook("End Jax", function () {
    return MathJax.Hub.setRenderer("SVG");
});
</script>
{% endblock html_head_js_mathjax %}
{% block html_head_css %}
<style>
.reveal .slides h1, .reveal .slides h2, .reveal .slides h3, .reveal .slides h4 {
  text-transform: none;
}
.reveal .slides .jp-InputArea pre, .reveal .slides .jp-OutputArea pre { white-space: pre-wrap; }
</style>
{% endblock html_head_css %}
"""


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"make_slides: the package {name} is missing; run `make venv` "
                         "(it is pinned in requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def bundle_assets(assets: Path) -> Path:
    """Copy the slide assets into ``assets`` (files already there and equal are kept)."""
    for target, (package, inside) in ASSETS.items():
        source = package_dir(package) / inside
        if not source.exists():
            raise SystemExit(f"make_slides: {source} is missing from {package}")
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*")
                                                          if p.is_file())
        for path in files:
            copy = assets / target / path.relative_to(source) if source.is_dir() \
                else assets / target
            if not copy.exists() or not filecmp.cmp(path, copy, shallow=False):
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
    return assets


def exporter(assets: Path, deck_dir: Path):
    """A SlidesExporter whose every script and style comes from ``assets``."""
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter

    base = Path(os.path.relpath(assets, deck_dir)).as_posix()
    slides = SlidesExporter(extra_loaders=[DictLoader({"offline.html.j2": TEMPLATE})],
                            template_file="offline.html.j2")
    slides.reveal_url_prefix = f"{base}/reveal.js"
    slides.reveal_theme = "white"  # its fonts ship with reveal.js (simple imports Google fonts)
    slides.reveal_scroll = True
    slides.mathjax_url = f"{base}/mathjax/MathJax.js?config={MATHJAX_CONFIG}"
    slides.jquery_url = f"{base}/jquery/jquery.min.js"
    slides.require_js_url = f"{base}/requirejs/require.js"
    return slides


def make_decks(notebooks: list[Path], out: Path = OUT) -> list[Path]:
    """Write the deck of each notebook to ``out/<lang>/<name>.slides.html``; their paths."""
    import nbformat

    assets = bundle_assets(out / "assets")
    decks = []
    for notebook in notebooks:
        deck_dir = out / notebook.parent.name
        deck_dir.mkdir(parents=True, exist_ok=True)
        html, _ = exporter(assets, deck_dir).from_notebook_node(
            nbformat.read(notebook, as_version=4),
            resources={"metadata": {"name": notebook.stem}})
        deck = deck_dir / f"{notebook.stem}.slides.html"
        deck.write_text(html, encoding="utf-8")
        decks.append(deck)
    return decks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    paths = args.paths or [p for lang in LANGS for p in sorted((NOTEBOOKS / lang).glob("*.ipynb"))]
    for deck in make_decks(paths, args.out):
        print(f"wrote {deck}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

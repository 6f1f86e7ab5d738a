"""Keep the sk, sr and ru notebooks in lock-step.

    python tools/sync_code.py --source sk    # copy code cells and slide metadata from sk/
    python tools/sync_code.py --check        # exit 1 on any drift, listing every one

The three versions of a notebook have the same cells in the same order. Code cells are
byte-identical except the first code cell, which selects the language
(``setup(lang="sk")``); markdown cells are translations. Slide metadata (RISE) and cell tags
are the same in all three. Syncing copies code and metadata from the source language into the
others and clears the outputs of every code cell it changed; it cannot add or remove cells,
because markdown needs a translator: a notebook whose structure differs is reported instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from notebook_io import LANGS, NOTEBOOKS, notebook_names, read, set_source, source, write

LANG_ARG = re.compile(r"""(setup\(\s*lang\s*=\s*)(["'])(\w+)\2""")
SHARED_METADATA = ("slideshow", "tags")


def for_language(code: str, lang: str) -> str:
    """The first code cell of ``lang``: the same code with its own ``lang=...``."""
    return LANG_ARG.sub(lambda m: f'{m.group(1)}"{lang}"', code, count=1)


def first_code_index(cells: list[dict]) -> int | None:
    return next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)


def shared_metadata(cell: dict) -> dict:
    return {k: cell.get("metadata", {}).get(k) for k in SHARED_METADATA}


def drift(name: str, ref: dict, other: dict, lang: str) -> list[str]:
    """Every difference between the reference notebook and its ``lang`` version."""
    where = f"{lang}/{name}"
    a, b = ref["cells"], other["cells"]
    if len(a) != len(b):
        return [f"{where}: {len(b)} cells, the reference has {len(a)}"]
    problems = []
    first = first_code_index(a)
    for i, (ca, cb) in enumerate(zip(a, b, strict=True)):
        if ca["cell_type"] != cb["cell_type"]:
            problems.append(f"{where} cell {i}: {cb['cell_type']} where the reference has "
                            f"{ca['cell_type']}")
            continue
        if shared_metadata(ca) != shared_metadata(cb):
            problems.append(f"{where} cell {i}: slide metadata or tags differ")
        if ca["cell_type"] == "code":
            expected = for_language(source(ca), lang) if i == first else source(ca)
            if source(cb) != expected:
                problems.append(f"{where} cell {i}: code differs")
        if i == first and f'lang="{lang}"' not in source(cb).replace("'", '"'):
            problems.append(f'{where} cell {i}: the first code cell must call setup(lang="{lang}")')
    return problems


def check(root: Path = NOTEBOOKS, source_lang: str = "sk") -> list[str]:
    problems = []
    for name in notebook_names(root):
        missing = [lang for lang in LANGS if not (root / lang / name).exists()]
        problems += [f"{lang}/{name}: missing" for lang in missing]
        present = [lang for lang in LANGS if lang not in missing]
        ref_lang = source_lang if source_lang in present else present[0]
        ref = read(root / ref_lang / name)
        for lang in present:
            problems += drift(name, ref, read(root / lang / name), lang)
    return problems


def sync(root: Path = NOTEBOOKS, source_lang: str = "sk") -> tuple[list[str], list[str]]:
    """Copy code and shared metadata from ``source_lang``; returns (changed, problems)."""
    changed, problems = [], []
    for name in notebook_names(root, [source_lang]):
        ref = read(root / source_lang / name)
        first = first_code_index(ref["cells"])
        for lang in LANGS:
            path = root / lang / name
            if lang == source_lang:
                continue
            if not path.exists():
                problems.append(f"{lang}/{name}: missing (translate {source_lang}/{name} first)")
                continue
            nb = read(path)
            if [c["cell_type"] for c in nb["cells"]] != [c["cell_type"] for c in ref["cells"]]:
                problems.append(f"{lang}/{name}: cells differ in number or type; align by hand")
                continue
            touched = False
            for i, (ca, cb) in enumerate(zip(ref["cells"], nb["cells"], strict=True)):
                for key, value in shared_metadata(ca).items():
                    if cb.get("metadata", {}).get(key) != value:
                        meta = cb.setdefault("metadata", {})
                        if value is None:
                            meta.pop(key, None)
                        else:
                            meta[key] = value
                        touched = True
                if ca["cell_type"] != "code":
                    continue
                code = for_language(source(ca), lang) if i == first else source(ca)
                if source(cb) != code:
                    set_source(cb, code)
                    cb["outputs"], cb["execution_count"] = [], None
                    touched = True
            if touched:
                write(path, nb)
                changed.append(f"{lang}/{name}")
    return changed, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="sk", choices=LANGS, help="language to copy from")
    parser.add_argument("--check", action="store_true", help="only report drift, exit 1 on any")
    parser.add_argument("--root", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.root, args.source)
        for p in problems:
            print(p)
        print("notebooks in lock-step" if not problems else f"{len(problems)} drift(s) found")
        return 1 if problems else 0
    changed, problems = sync(args.root, args.source)
    for c in changed:
        print(f"synced {c}")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

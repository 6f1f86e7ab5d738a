"""Spell-check the prose of every notebook and README with hunspell.

    python tools/spell.py            # list unknown words per file, exit 1 if any
    python tools/spell.py --suggest  # also print the words in word-list format

Markdown cells of notebooks/<lang>/*.ipynb and README.<lang>.md are checked with the language's
dictionary (sk_SK, sr_Latn_RS, ru_RU) plus en_US for the English terms given in brackets;
README.md and data/README.md with en_US. Code, formulas, links and HTML are skipped. Words that
are right but unknown to the dictionaries (technical terms, names) belong in the reviewed
project word lists docs/spelling/<lang>.txt (shared) and <lang>-NN.txt (words of notebook
NN), one word a line.

Needs hunspell with the dictionaries: on Debian or Ubuntu
``apt-get install hunspell hunspell-sk hunspell-sr hunspell-ru hunspell-en-us``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from notebook_io import LANGS, NOTEBOOKS, ROOT, read, source

DICTIONARIES = {"sk": "sk_SK", "sr": "sr_Latn_RS", "ru": "ru_RU", "en": "en_US"}
WORDLISTS = ROOT / "docs" / "spelling"
PACKAGES = "hunspell hunspell-sk hunspell-sr hunspell-ru hunspell-en-us"

SKIP = [
    re.compile(r"```.*?```", re.S),       # fenced code
    re.compile(r"\$\$.*?\$\$", re.S),     # display math
    re.compile(r"\$[^$\n]+\$"),           # inline math
    re.compile(r"`[^`\n]+`"),             # inline code
    re.compile(r"<[^>\n]+>"),             # HTML tags
    re.compile(r"\]\([^)\s]+\)"),         # link targets
    re.compile(r"https?://\S+"),          # bare URLs
]
WORD = re.compile(r"[^\W\d_]{2,}(?:['’-][^\W\d_]+)*")  # single letters are symbols


def prose(markdown: str) -> str:
    """The markdown without code, formulas, HTML and link targets."""
    for pattern in SKIP:
        markdown = pattern.sub(" ", markdown)
    return markdown


def documents() -> list[tuple[Path, str, str]]:
    """(path, language, prose) for every checked file."""
    docs = []
    for lang in LANGS:
        for path in sorted((NOTEBOOKS / lang).glob("*.ipynb")):
            cells = read(path)["cells"]
            text = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
            docs.append((path, lang, prose(text)))
        readme = ROOT / f"README.{lang}.md"
        if readme.exists():
            docs.append((readme, lang, prose(readme.read_text(encoding="utf-8"))))
    for readme in (ROOT / "README.md", ROOT / "data" / "README.md"):
        docs.append((readme, "en", prose(readme.read_text(encoding="utf-8"))))
    return docs


def wordlist(lang: str) -> set[str]:
    """The reviewed words of ``lang``: docs/spelling/<lang>.txt and <lang>-*.txt (per notebook)."""
    paths = [WORDLISTS / f"{lang}.txt", *sorted(WORDLISTS.glob(f"{lang}-*.txt"))]
    words = set()
    for path in filter(Path.exists, paths):
        lines = path.read_text(encoding="utf-8").splitlines()
        words |= {w.strip() for w in lines if w.strip() and not w.startswith("#")}
    return words


def unknown_words(text: str, lang: str) -> list[str]:
    """Words of ``text`` that neither the dictionaries nor the project word list know."""
    if shutil.which("hunspell") is None:
        raise RuntimeError(f"hunspell is not installed: apt-get install {PACKAGES}")
    dicts = DICTIONARIES[lang] if lang == "en" else f"{DICTIONARIES[lang]},{DICTIONARIES['en']}"
    words = "\n".join(WORD.findall(text))
    result = subprocess.run(["hunspell", "-i", "utf-8", "-d", dicts, "-l"], input=words,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0 or "Can't open affix or dictionary" in result.stderr:
        raise RuntimeError(f"hunspell failed ({result.stderr.strip()}): "
                           f"apt-get install {PACKAGES}")
    known = wordlist(lang) | wordlist("en")
    return sorted({w for w in result.stdout.split() if w not in known and w.lower() not in known})


def check() -> dict[str, list[str]]:
    """``{relative path: unknown words}`` for every file with at least one."""
    found = {}
    for path, lang, text in documents():
        words = unknown_words(text, lang)
        if words:
            found[str(path.relative_to(ROOT))] = words
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suggest", action="store_true", help="print words one a line")
    args = parser.parse_args(argv)
    found = check()
    for path, words in found.items():
        print(f"{path}: {', '.join(words)}")
        if args.suggest:
            print("\n".join(words))
    print("spelling: no unknown words" if not found else
          f"spelling: unknown words in {len(found)} file(s); fix them or add reviewed ones to "
          f"docs/spelling/<lang>.txt")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

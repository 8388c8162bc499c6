"""The notebooks' git filter: ``nbstripout``, keeping the outputs of the nbval-checked cells.

Git stores a notebook without outputs, execution counts, widget state or editor metadata, except
the outputs of its golden cells (first line ``# NBVAL_CHECK_OUTPUT``), which nbval compares in
``scripts/test.sh``. The work is nbstripout's (``nbstripout.strip_output``): golden cells are
handed to it as ``keep_output`` cells. One thing nbstripout cannot do is keep the execution
count of those cells alone, and nbval skips a reference cell without one ("Unrun reference
cell"), so golden cells get the count 1 afterwards.

``.gitattributes`` applies the filter to ``*.ipynb``; ``scripts/setup_env.sh`` installs it into
the clone's git config (``--install``, idempotent). Then ``git add`` stores the stripped
notebook while the file in the working tree keeps its outputs, and ``git diff`` compares
stripped notebooks.

    python scripts/strip_notebook.py --install       # configure the filter in this clone
    python scripts/strip_notebook.py < in > out      # the clean filter (stdin -> stdout)
    python scripts/strip_notebook.py --textconv FILE # the diff text of FILE (stdout)
    python scripts/strip_notebook.py FILE [...]      # strip files in place
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbstripout import strip_output

GOLDEN = "# NBVAL_CHECK_OUTPUT"
FILTER = "nbstripout"  # the name .gitattributes uses
#: Metadata to drop: those the ``nbstripout`` command drops by default (its library function
#: takes them as arguments), then what JupyterLab, papermill and VS Code add.
EXTRA_KEYS = (
    "metadata.signature", "metadata.widgets", "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime", "cell.metadata.execution", "cell.metadata.heading_collapsed",
    "cell.metadata.hidden", "cell.metadata.scrolled",
    "metadata.papermill", "metadata.vscode", "metadata.toc", "metadata.varInspector",
    "metadata.celltoolbar", "metadata.interpreter",
    "metadata.language_info.codemirror_mode", "metadata.language_info.file_extension",
    "metadata.language_info.mimetype", "metadata.language_info.nbconvert_exporter",
    "metadata.language_info.pygments_lexer", "metadata.language_info.version",
    "cell.metadata.papermill", "cell.metadata.jupyter", "cell.metadata.vscode",
    "cell.metadata.editable", "cell.metadata.deletable", "cell.metadata.slideshow",
    "cell.metadata.trusted", "cell.metadata.pycharm",
)


def is_golden(cell) -> bool:
    """Whether nbval compares this cell's outputs (code cell whose first line is the marker)."""
    return cell.cell_type == "code" and cell.source.startswith(GOLDEN)


def strip(book):
    """Strip ``book`` (an nbformat v4 notebook) in place and return it: no outputs, execution
    counts or editor metadata; golden cells keep their outputs (without execution counts) and
    get the execution count 1. Cell ids are kept (JupyterLab keeps them stable); a cell without
    one gets an id from its position and source, so the filter gives the same bytes every time."""
    golden = [c for c in book.cells if is_golden(c)]
    for cell in golden:
        cell.metadata["keep_output"] = True
    strip_output(book, keep_output=False, keep_count=False, keep_id=True,
                 extra_keys=list(EXTRA_KEYS))
    for cell in golden:
        del cell.metadata["keep_output"]
        cell.execution_count = 1
    return book


def read_book(raw: str):
    """A notebook from its JSON text. A v4.5 cell without an id gets one from its position and
    source before nbformat reads it (nbformat would give it a random id each time), so the
    filter gives the same bytes for the same input."""
    d = json.loads(raw)
    if d.get("nbformat") == 4 and d.get("nbformat_minor", 0) >= 5:
        for i, cell in enumerate(d.get("cells", [])):
            if not cell.get("id"):
                src = "".join(cell.get("source", ""))
                cell["id"] = hashlib.sha1(f"{i}:{src}".encode()).hexdigest()[:12]
    return nbformat.reads(json.dumps(d), as_version=nbformat.NO_CONVERT)


def text(book) -> str:
    """The notebook file's text, as :func:`nbformat.write` writes it (final newline included)."""
    out = nbformat.writes(book)
    return out if out.endswith("\n") else out + "\n"


ROOT = Path(__file__).resolve().parent.parent


def install(repo: Path = ROOT, python: str = sys.executable) -> None:
    """Configure the filter in the git config of the clone at ``repo`` (``git config --local``;
    idempotent). The clean and diff commands name this script relative to the working tree's
    top, where git runs them, so every working tree of the clone uses its own copy."""
    cmd = f'"{python}" scripts/strip_notebook.py'
    for key, value in ((f"filter.{FILTER}.clean", cmd), (f"filter.{FILTER}.smudge", "cat"),
                       (f"filter.{FILTER}.required", "true"),
                       ("diff.ipynb.textconv", f"{cmd} --textconv")):
        subprocess.run(["git", "config", "--local", key, value], check=True, cwd=repo,
                       capture_output=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, help="notebooks to strip in place")
    ap.add_argument("--textconv", action="store_true", help="print the stripped FILE instead")
    ap.add_argument("--install", action="store_true", help="configure the git filter in this clone")
    args = ap.parse_args(argv)
    if args.install:
        try:
            install()
        except (OSError, subprocess.CalledProcessError) as exc:  # no git, or not a git clone
            print(f"notebook filter not installed (not a git clone?): {exc}", file=sys.stderr)
        return 0
    if not args.files:  # the clean filter: UTF-8 whatever the locale
        book = read_book(sys.stdin.buffer.read().decode("utf-8"))
        sys.stdout.buffer.write(text(strip(book)).encode("utf-8"))
        return 0
    for path in args.files:
        book = strip(read_book(Path(path).read_text(encoding="utf-8")))
        if args.textconv:
            sys.stdout.buffer.write(text(book).encode("utf-8"))
        else:
            nbformat.write(book, str(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())

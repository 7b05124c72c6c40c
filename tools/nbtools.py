"""Build workbook notebooks from a compact cell list (a developer tool, not shipped).

    from tools.nbtools import write_notebook
    write_notebook("notebooks/05_x.ipynb", [
        ("md", "# Title\\nWhat it does."),
        ("params", "smoke = False\\nseed = 0"),
        ("code", "from s2e_lib import ..."),
    ])

Cells of kind ``params`` get the papermill ``parameters`` tag. Notebooks are written
without outputs, with the ``python3`` kernel.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def write_notebook(path: str | Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        elif kind == "params":
            nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}))
        elif kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(source))
        else:
            raise ValueError(f"unknown cell kind {kind!r}")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:02d}"
    path = Path(path)
    nbformat.write(nb, str(path))
    return path


if __name__ == "__main__":  # strip outputs from notebooks given on the command line
    for name in sys.argv[1:]:
        nb = nbformat.read(name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, name)

"""The notebook runner: parameter discovery, notebook selection, storing executed outputs."""

import nbformat
import pytest

from sot_utils.study import run_notebooks


def _notebook(path, cells):
    notebook = nbformat.v4.new_notebook()
    for source, tags, outputs in cells:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in outputs]
        notebook.cells.append(cell)
    notebook.cells.append(nbformat.v4.new_markdown_cell("# text"))
    nbformat.write(notebook, path)
    return path


def test_store_outputs_copies_by_source_and_leaves_out_the_injected_cell(tmp_path):
    source = _notebook(tmp_path / "a.ipynb", [("quick = True", ["parameters"], []), ("print(1)", [], ["old\n"])])
    executed = _notebook(
        tmp_path / "b.ipynb",
        [
            ("quick = True", ["parameters"], []),
            ("quick = False", ["injected-parameters"], []),
            ("print(1)", [], ["new\n"]),
        ],
    )
    assert run_notebooks.store_outputs(executed, source) == 2
    cells = nbformat.read(source, as_version=4).cells
    assert [c.source for c in cells if c.cell_type == "code"] == ["quick = True", "print(1)"]
    assert cells[1].outputs[0]["text"] == "new\n"


def test_store_outputs_refuses_a_cell_edited_since_the_run(tmp_path):
    source = _notebook(tmp_path / "a.ipynb", [("print(2)", [], [])])
    executed = _notebook(tmp_path / "b.ipynb", [("print(1)", [], ["1\n"])])
    with pytest.raises(ValueError, match="changed since"):
        run_notebooks.store_outputs(executed, source)


def test_declared_parameters_and_selection(tmp_path):
    path = _notebook(
        tmp_path / "a.ipynb", [("quick = True   # comment\n# note = 1\noutput_dir = 'x'", ["parameters"], [])]
    )
    assert run_notebooks._declared_parameters(path) == {"quick", "output_dir"}
    assert [p.name[:2] for p in run_notebooks.notebook_paths(["02"])] == ["02"]
    with pytest.raises(ValueError, match="only"):
        run_notebooks.notebook_paths(["99"])


def test_store_needs_quick():
    with pytest.raises(SystemExit):
        run_notebooks.main(["--store"])


def test_cli_rejects_an_unknown_notebook_before_running_any(capsys, monkeypatch):
    monkeypatch.setattr(run_notebooks, "run", lambda **kwargs: pytest.fail("ran notebooks"))
    with pytest.raises(SystemExit):
        run_notebooks.main(["--quick", "--only", "01", "99"])
    assert "matched no notebook" in capsys.readouterr().err

"""examples/quickstart.ipynb runs clean from top to bottom (and is stored without outputs)."""

import json

import pytest
from conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "examples" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code), \
        "strip the outputs before committing (jupyter nbconvert --clear-output --inplace)"


@pytest.mark.slow
def test_the_notebook_runs_clean(tmp_path):
    import nbclient  # the test extra installs it (with ipykernel and nbformat)
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on errors
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    streams = "".join(o["text"] for o in outputs if o["output_type"] == "stream")
    assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"], streams
    assert "WARNING" not in streams and "tensorflow" not in streams.lower(), streams
    rich = [o for o in outputs if o["output_type"] in ("execute_result", "display_data")]
    tables = [o["data"]["text/html"] for o in rich if "text/html" in o["data"]]
    assert any("two-tower" in t and "ndcg@10" in t and "vs best" in t for t in tables), "the comparison table"
    assert any("image/png" in o["data"] for o in rich), "the comparison figure"
    assert "training rows" in streams and "exported to" in streams

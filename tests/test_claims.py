"""Numbers quoted in the docs are the ones the committed results hold."""

import json
from pathlib import Path

REPO = Path(__file__).parents[1]


def test_the_reproducing_page_quotes_the_executed_notebooks_times():
    """docs/reproducing.md quotes the time papermill recorded in each executed notebook, and their sum (read from
    the notebooks' metadata: nothing is timed here)."""
    docs = " ".join((REPO / "docs" / "reproducing.md").read_text().split())  # line breaks as spaces
    recorded = {
        path.name: json.loads(path.read_text())["metadata"]["papermill"]["duration"]
        for path in sorted((REPO / "results" / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    }
    assert len(recorded) == 9
    for name, seconds in recorded.items():
        assert f"{round(seconds):,} s" in docs, f"docs/reproducing.md does not quote {name}'s {seconds:.0f} s"
    assert f"sum to {round(sum(recorded.values())):,} s" in docs

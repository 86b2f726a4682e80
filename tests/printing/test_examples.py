"""examples/logreg_pictures.py draws the tutorial's three pictures where it is told."""

import html
import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "logreg_pictures.py"


def test_logreg_pictures_example(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("logreg_pictures", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(str(tmp_path / "pics"))
    printed = capsys.readouterr().out
    assert "gt(1 / (1 + exp(-(x \\dot w) - b)), 0.5)" in printed
    assert "gt(sigmoid(x \\dot w + b), 0.5)" in printed             # pprint(predict)
    assert "Elemwise{Composite{gt(sigmoid(i0 + i1), 0.5)}} [id A] #2" in printed  # predict
    expected = {"prediction": "Elemwise{gt}", "train": "update of w",
                "predict": "Elemwise{Composite{gt(sigmoid(i0 + i1), 0.5)}}"}
    for name, op_name in expected.items():
        png = tmp_path / "pics" / f"logreg_{name}.png"
        svg = tmp_path / "pics" / f"logreg_{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert op_name in html.unescape(svg.read_text())
        assert f"The output file is available at {png}" in printed

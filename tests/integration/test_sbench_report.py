"""simcache-bench report: a CSV becomes a markdown table and an SVG plot.

The report mode is the shared back end of every simcache-bench mode (they
all write CSV, markdown and SVG through bench/sbench/report.c), so these
tests pin its output format: RFC 4180 quoting survives the round trip,
markdown escapes pipes, the SVG is well-formed XML with one polyline per
series, and bad input is refused with a non-zero exit and no traceback.
"""
import xml.etree.ElementTree as ET

from conftest import SVG, needs_sbench, sbench

pytestmark = needs_sbench


def run(*args, cwd=None):
    return sbench(*args, timeout=30, cwd=cwd)


def test_help_lists_report_mode():
    r = run("help")
    assert r.returncode == 0
    assert "report" in r.stdout


def test_unknown_mode_is_refused():
    r = run("no-such-mode")
    assert r.returncode == 2
    assert "unknown mode" in r.stderr


def test_csv_to_markdown_and_svg(tmp_path):
    csv = tmp_path / "sweep.csv"
    csv.write_text('engine,ef,recall,qps\n'
                   'ours,16,0.90,15000\nours,32,0.96,11000\n'
                   '"hnsw,lib",16,0.91,14000\n"hnsw,lib",32,0.955,10000\n'
                   'a|b,64,0.99,5000\n')
    out = tmp_path / "out"
    r = run("report", str(csv), "--x", "recall", "--y", "qps", "--series", "engine",
            "--ylog", "--title", "recall <vs> qps", "--out", str(out))
    assert r.returncode == 0, r.stderr
    md = (out / "sweep.md").read_text().splitlines()
    assert md[0] == "| engine | ef | recall | qps |"
    assert md[1] == "| --- | --- | --- | --- |"
    assert "| hnsw,lib | 16 | 0.91 | 14000 |" in md
    assert "| a\\|b | 64 | 0.99 | 5000 |" in md
    root = ET.parse(out / "sweep.svg").getroot()
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 3                      # one per engine
    pts = [p for p in lines[0].get("points").split() if p]
    assert len(pts) == 2
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "recall <vs> qps" in texts           # escaped, parsed back
    assert {"ours", "hnsw,lib", "a|b"} <= set(texts)


def test_missing_column_is_an_error(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    r = run("report", str(csv), "--x", "a", "--y", "nope", "--out", str(tmp_path))
    assert r.returncode == 1
    assert "column not found" in r.stderr


def test_ragged_rows_are_an_error(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n3\n")
    r = run("report", str(csv), "--x", "a", "--y", "b", "--out", str(tmp_path))
    assert r.returncode == 1
    assert "different cell count" in r.stderr


def test_no_numeric_points_is_an_error(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\nx,y\n")
    r = run("report", str(csv), "--x", "a", "--y", "b", "--out", str(tmp_path / "o"))
    assert r.returncode == 1

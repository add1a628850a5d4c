"""simcache-bench sweep: VSIM EF sweep against the server's exact search.

Threats covered: recall that does not grow with EF (EF ignored, or truth
and approximate answers compared wrongly), a recommendation that does not
match the table it comes from, outputs that do not parse, and sweeping a
key the user did not ask to have overwritten.
"""
import struct
import xml.etree.ElementTree as ET

import pytest

from conftest import SVG, csv_rows as rows, needs_sbench, sbench

pytestmark = [pytest.mark.simcache_only, needs_sbench]


def run(*args, timeout=180):
    return sbench("sweep", *args, timeout=timeout)


# 3000 x 256 is above the server's exact-scan cut-off (n x dim <= 2^19
# floats are scanned exactly, where EF does nothing), so the graph is used.
def test_recall_grows_with_ef_and_the_recommendation_matches_the_table(srv, r, tmp_path):
    out = tmp_path / "o"
    res = run("-p", srv.port, "--n", 3000, "--dim", 256, "--queries", 100, "--k", 10,
              "--ef", "10,20,40,80,200", "--target-recall", 0.97, "--key", "sw",
              "--out", out)
    assert res.returncode == 0, res.stderr
    table = rows(out / "sweep.csv")
    assert [int(x["ef"]) for x in table] == [10, 20, 40, 80, 200]
    recall = [float(x["recall"]) for x in table]
    for a, b in zip(recall, recall[1:]):
        assert b >= a - 0.02, recall                 # non-decreasing within noise
    assert recall[-1] >= 0.95
    for x in table:
        assert 0 <= float(x["recall_min"]) <= float(x["recall"]) <= 1
        assert float(x["qps"]) > 0 and 0 < float(x["p50_us"]) <= float(x["p99_us"])
    first = next(int(x["ef"]) for x in table if float(x["recall"]) >= 0.97)
    assert f"recommended ef {first} " in res.stdout
    assert f"Recommended: **EF {first}**" in (out / "sweep.md").read_text()
    root = ET.parse(out / "sweep.svg").getroot()
    pts = root.find(f"{SVG}polyline").get("points").split()
    assert len(pts) == 5
    assert r.exists("sw") == 0                       # the generated key is deleted


def test_existing_key_is_swept_and_never_overwritten(srv, r, tmp_path):
    vecs = []
    for i in range(600):
        v = [((i * 31 + d * 17) % 97) / 97.0 - 0.5 for d in range(16)]
        v[i % 16] += 1.0
        vecs.append(v)
        r.execute_command("VADD", "mine", "FP32", struct.pack("16f", *v), f"e{i}")
    res = run("-p", srv.port, "--key", "mine", "--out", tmp_path / "a")
    assert res.returncode == 1
    assert "key mine exists; use --existing" in res.stderr
    res = run("-p", srv.port, "--key", "mine", "--existing", "--queries", 50,
              "--ef", "10,50", "--out", tmp_path / "b")
    assert res.returncode == 0, res.stderr
    table = rows(tmp_path / "b" / "sweep.csv")
    assert [x["queries"] for x in table] == ["50", "50"]
    assert r.execute_command("VCARD", "mine") == 600     # untouched, not deleted


def test_fvecs_input(srv, tmp_path):
    path = tmp_path / "v.fvecs"
    with open(path, "wb") as f:
        for i in range(700):
            v = [((i * 7 + d * 13) % 101) / 101.0 - 0.5 for d in range(8)]
            v[i % 8] += 1.0
            f.write(struct.pack("<i", 8) + struct.pack("<8f", *v))
    res = run("-p", srv.port, "--fvecs", path, "--n", 600, "--queries", 100,
              "--ef", "10,40", "--out", tmp_path / "o")
    assert res.returncode == 0, res.stderr
    assert "loaded 600 x 8" in res.stdout
    table = rows(tmp_path / "o" / "sweep.csv")
    assert table[0]["queries"] == "100"              # the 100 vectors after the base set
    with open(path, "ab") as f:
        f.write(struct.pack("<i", 9))
    res = run("-p", srv.port, "--fvecs", path, "--n", 2000, "--out", tmp_path / "p")
    assert res.returncode == 1 and "dimension 9" in res.stderr


def test_bad_ef_list_is_a_usage_error():
    for bad in ("20,10", "0", "10,,x"):
        res = run("--ef", bad)
        assert res.returncode == 2 and "bad or incomplete option" in res.stderr

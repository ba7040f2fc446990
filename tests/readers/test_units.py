"""Splitting Parquet files into units of whole row groups from their footers; bounding the rows of units."""
from __future__ import annotations

from dataclasses import asdict, replace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.readers.inputs import Shard, expand_inputs
from audit.readers.parquet import row_group_units
from audit.readers.units import most_rows, plan_units


def footer(tmp_path, rows: int, group: int) -> pq.FileMetaData:
    pq.write_table(pa.table({"TEXT": [str(i) for i in range(rows)]}), tmp_path / "f.parquet", row_group_size=group)
    return pq.ParquetFile(tmp_path / "f.parquet").metadata


def test_whole_row_groups_up_to_the_budget(tmp_path):
    units = row_group_units(footer(tmp_path, 1000, 300), 700)  # groups of 300, 300, 300, 100
    assert units == [(0, 600, [0, 1]), (600, 400, [2, 3])]
    assert row_group_units(footer(tmp_path, 1000, 300), 200) == [(0, 300, [0]), (300, 300, [1]), (600, 300, [2]),
                                                                  (900, 100, [3])]  # a larger group stays whole
    assert row_group_units(footer(tmp_path, 0, 300), 100) == [(0, 0, [0])]  # an empty file: one empty group


def test_units_of_a_file_and_files_of_one_unit(tmp_path):
    pq.write_table(pa.table({"TEXT": [str(i) for i in range(50)]}), tmp_path / "big.parquet", row_group_size=10)
    pq.write_table(pa.table({"TEXT": ["x"]}), tmp_path / "small.parquet")
    (tmp_path / "c.txt").write_text("a\nb\n")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    whole = {s.source: s for s in expand_inputs([str(tmp_path)])}
    units = plan_units(list(whole.values()), 20)
    big = [u for u in units if u.source.endswith("big.parquet")]
    assert [(u.first_row, u.rows, u.row_groups) for u in big] == [(0, 20, (0, 1)), (20, 20, (2, 3)), (40, 10, (4,))]
    assert len({u.shard_id for u in big}) == 3
    one = {u.source: u for u in units if not u.source.endswith("big.parquet")}
    assert one[str(tmp_path / "small.parquet")].shard_id == whole[str(tmp_path / "small.parquet")].shard_id
    assert one[str(tmp_path / "c.txt")].rows == 2 and one[str(tmp_path / "broken.parquet")].rows is None


def test_most_rows_counts_or_bounds_each_unit(tmp_path):
    """A unit's row count where planning knew it; a tar's samples bounded by its size (one 512-byte header block
    per member at least); 0 for a file gone before planning; None where nothing bounds them."""
    from builders import write_tar

    write_tar(tmp_path / "shard.tar", 0, 20)  # 20 samples of 2-3 members each
    (tmp_path / "c.txt").write_text("a\nb\n")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    (tmp_path / "gone.txt").write_text("x\n")
    listed = expand_inputs([str(tmp_path)])
    (tmp_path / "gone.txt").unlink()
    units = plan_units(listed, 100)
    bounds = {u.source.rsplit("/", 1)[1]: most_rows(u) for u in units}
    records = pd.DataFrame([asdict(u) for u in units]).to_dict("records")  # as the pipeline's tasks get units
    assert [Shard.from_record(r) for r in records] == units  # sizes (NaN where unknown) and all
    assert bounds["shard.tar"] == (tmp_path / "shard.tar").stat().st_size // 512 >= 20
    assert bounds["c.txt"] == 2 and bounds["broken.parquet"] is None
    assert bounds["gone.txt"] is None  # listed, then gone: planning cannot tell it from an unreadable file
    unlisted = next(u for u in expand_inputs([str(tmp_path)]) if u.source.endswith("c.txt"))
    assert most_rows(replace(unlisted, identity=None)) == 0  # not a file when listed: it fails when read

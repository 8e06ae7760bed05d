"""Batching: windows are views, chunks cover every target once, panels align in time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import make_samples

from edgelab.errors import ModelError
from edgelab.train.windows import (
    ChunkSource,
    Panel,
    PanelSource,
    WindowSource,
    panel_channels,
    strided_windows,
)


def test_window_batches_equal_samples_windows_in_order():
    s = make_samples(n=50, window=5, assets=2)
    src = WindowSource(s, batch_size=16)
    xs = torch.cat([b.x for b in src.batches()]).numpy()
    np.testing.assert_array_equal(xs, s.windows())
    rows = torch.cat([b.row for b in src.batches()]).numpy()
    np.testing.assert_array_equal(rows, s.rows)
    y = torch.cat([b.y for b in src.batches()]).numpy()
    np.testing.assert_array_equal(y, s.targets().astype(np.float32))
    assert len(src) == -(-len(s) // 16)


def test_window_view_shares_memory_with_samples_x():
    s = make_samples(n=40, window=4)
    src = WindowSource(s, batch_size=8)
    assert src.X.data_ptr() == s.X.ctypes.data  # torch.from_numpy: no copy
    assert src.view.data_ptr() == s.X.ctypes.data  # as_strided: still no copy
    s.X[10, 1] = -7.0  # a write to the numpy array shows through the view
    assert src.view[10 - 3, 3, 1] == -7.0


def test_shorter_window_reads_the_last_rows_of_the_samples_window():
    s = make_samples(n=30, window=6)
    batch = next(WindowSource(s, batch_size=4, window=2).batches())
    np.testing.assert_array_equal(batch.x.numpy(), s.windows(np.arange(4))[:, -2:])
    with pytest.raises(ModelError, match="window 7"):
        WindowSource(s, window=7)


def test_shuffle_is_a_seeded_permutation_per_epoch():
    s = make_samples(n=80, window=3)
    src = WindowSource(s, batch_size=10, shuffle=True, seed=3)
    e0 = torch.cat([b.row for b in src.batches(0)]).numpy()
    e1 = torch.cat([b.row for b in src.batches(1)]).numpy()
    again = torch.cat([b.row for b in WindowSource(s, 10, shuffle=True, seed=3).batches(0)]).numpy()
    assert sorted(e0) == sorted(s.rows) and not np.array_equal(e0, e1)
    np.testing.assert_array_equal(e0, again)
    assert all(b.time_dim is None for b in src.batches(0))


def test_contiguous_batches_are_time_ordered_blocks():
    s = make_samples(n=80, window=3)
    batches = list(WindowSource(s, batch_size=10, shuffle=True, contiguous=True, seed=1).batches(0))
    for b in batches:
        assert b.time_dim == 0 and (np.diff(b.row.numpy()) == 1).all()
    firsts = [int(b.row[0]) for b in batches]
    assert firsts != sorted(firsts)  # block order is shuffled


def test_chunks_cover_each_target_exactly_once_with_burn_in():
    labeled = np.ones(2 * 70, bool)
    labeled[[20, 21, 90]] = False
    s = make_samples(n=70, window=4, assets=2, labeled=labeled)
    src = ChunkSource(s, chunk=16, burn_in=3, batch_size=3)
    seen = []
    for b in src.batches():
        assert b.x.shape[1:] == (3 + 16, 3) and b.y.shape[1:] == (16,) and b.per_step
        out_rows = b.row.numpy()
        for i in range(len(b.x)):
            ok = b.mask[i].numpy()
            seen.extend(out_rows[i][ok])
            # the labeled step j reads rows up to row_j, and the burn_in rows before it
            for j in np.flatnonzero(ok):
                r = out_rows[i, j]
                np.testing.assert_array_equal(b.x[i, j : j + 4, 1].numpy(), s.X[r - 3 : r + 1, 1])
    assert sorted(seen) == sorted(s.rows.tolist())
    assert src.n_labels == len(s.rows)


def test_chunk_replicate_pads_before_the_asset_start():
    s = make_samples(n=30, window=2)
    b = next(ChunkSource(s, chunk=8, burn_in=5, batch_size=1).batches())
    x = b.x[0, :, 1].numpy()  # first target is row 1: it reads rows -4..1, -4..-1 padded
    np.testing.assert_array_equal(x[:5], np.full(5, s.X[0, 1]))
    np.testing.assert_array_equal(x[5:], s.X[1:9, 1])
    assert b.row[0, 0] == 1


def test_panel_aligns_assets_on_shared_timestamps():
    s = make_samples(n=40, window=3, assets=3)
    panel = Panel.from_samples(s)
    assert panel.X.shape == (40, 3 * 3) and panel.n_assets == 3
    # asset-major channels: columns 3..5 are asset 1's features at the same time
    np.testing.assert_array_equal(panel.X[7, 3:6].numpy(), s.X[40 + 7])
    src = PanelSource(s, batch_size=8)
    b = next(src.batches())
    assert b.x.shape == (8, 3, 9) and b.y.shape == (8, 3)
    np.testing.assert_array_equal(b.row[0].numpy(), [2, 42, 82])
    assert src.n_labels == len(s.rows)


def test_panel_rejects_targets_at_times_other_assets_lack():
    s = make_samples(n=40, window=3, assets=2, shift=5)  # A0's first 5 hours are A0's alone
    with pytest.raises(ModelError, match="asset 'A0' has 3 target rows"):  # rows 2, 3, 4
        Panel.from_samples(s)


def test_single_asset_panel_is_the_matrix_itself():
    s = make_samples(n=20, window=3)
    assert Panel.from_samples(s).X.data_ptr() == s.X.ctypes.data


def test_strided_windows_of_a_short_matrix_is_empty():
    assert strided_windows(torch.zeros(3, 2), 5).shape == (0, 5, 2)


def test_panel_feature_set_columns_are_taken_once():
    s = make_samples(n=30, f=2, window=3, assets=2)
    s.X[30:] = s.X[:30]  # both assets carry the same panel row at each time
    s.feature_names = ["A0:x", "A1:x"]
    assert panel_channels(s) == (2, 2)
    panel = Panel.from_samples(s)
    assert panel.X.shape == (30, 2)
    np.testing.assert_array_equal(panel.X.numpy(), s.X[:30])
    s.X[40, 1] += 1.0
    with pytest.raises(ModelError, match="differ between assets"):
        Panel.from_samples(s)
    s.feature_names = ["x", "y"]
    assert panel_channels(s) == (2, 4)

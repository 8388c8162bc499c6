"""Zero-shot splits are data (params/splits), 0-based and consistent with the issue's lists."""
import numpy as np
import pytest

from neuron import config
from neuron.data import load_processed, make_split, train_mask

EXPECTED = {
    "ntu60_55_5": [10, 11, 19, 26, 56], "ntu60_48_12": [3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59],
    "ntu120_110_10": [4, 13, 37, 43, 49, 65, 88, 95, 99, 106],
    "ntu120_96_24": [5, 9, 11, 16, 18, 20, 22, 29, 35, 39, 45, 49, 59, 68, 70, 81, 84, 87, 93, 94, 104, 113, 114, 119],
    "pku_mmd1_46_5": [1, 9, 20, 34, 50], "pku_mmd1_39_12": [3, 7, 11, 15, 19, 21, 25, 31, 33, 36, 43, 48],
    "utd_mhad_22_5": [0, 4, 11, 15, 22], "utd_mhad_17_10": [0, 2, 3, 7, 11, 17, 18, 20, 22, 24],
    "nw_ucla_8_2": [0, 8],
    "kinder_gator_48_10": [3, 10, 12, 20, 30, 33, 49, 51, 54, 55], "kinder_gator_53_5": [3, 13, 33, 53, 54],
}
SIZES = {"ntu60": 60, "ntu120": 120, "pku_mmd1": 51, "utd_mhad": 27, "nw_ucla": 10, "kinder_gator": 58}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_split_files(name):
    sp = config.load_split_spec(name)
    assert sp.unseen[0] == EXPECTED[name]
    n = SIZES[sp.dataset]
    assert len(config.load_dataset_spec(sp.dataset).class_names) == n
    for i in range(len(sp.unseen)):
        seen, unseen = sp.seen_unseen(i, n)
        assert set(seen).isdisjoint(unseen)
        assert sorted(seen + unseen) == list(range(n))
        assert len(unseen) == int(name.split("_")[-1])


def test_class_names_match_paper_side_information(data_root):
    import json
    ntu = list(json.loads((data_root / "neuron_semantics/ntu/spatial/spatial_cg.json").read_text()))
    pku = list(json.loads((data_root / "neuron_semantics/pku/spatial/spatial_cg.json").read_text()))
    assert config.load_dataset_spec("ntu120").class_names == ntu
    assert config.load_dataset_spec("ntu60").class_names == ntu[:60]
    assert config.load_dataset_spec("pku_mmd1").class_names == pku


@pytest.mark.parametrize("dataset, split", [("utd_mhad", "utd_mhad_22_5"), ("utd_mhad", "utd_mhad_17_10"),
                                            ("nw_ucla", "nw_ucla_8_2")])
def test_real_split_partitions(data_root, tmp_path, dataset, split):
    spec = config.load_dataset_spec(dataset)
    p = load_processed(spec, data_root, tmp_path)
    sspec = config.load_split_spec(split)
    for i in range(len(sspec.unseen)):
        z = make_split(p, spec, sspec, i, 0.2, 3, seed=0)
        parts = [set(z.train), set(z.val), set(z.test)]
        assert all(a.isdisjoint(b) for j, a in enumerate(parts) for b in parts[j + 1:])
        assert set(p.labels[z.train]) == set(z.seen) and set(p.labels[z.val]) == set(z.seen)
        assert set(p.labels[z.test_unseen]) == set(z.unseen)
        assert set(z.test_unseen) <= set(z.test)
        assert set(z.pseudo_unseen) <= set(z.seen)
        is_train = train_mask(p, spec)
        assert len(z.train) + len(z.val) == int((is_train & np.isin(p.labels, z.seen)).sum())
        assert len(z.test) == int((~is_train).sum())
    # deterministic for a seed
    a = make_split(p, spec, sspec, 0, 0.2, 3, seed=1)
    b = make_split(p, spec, sspec, 0, 0.2, 3, seed=1)
    assert np.array_equal(a.val, b.val) and a.pseudo_unseen == b.pseudo_unseen

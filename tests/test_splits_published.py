"""Published zero-shot split protocols in params/splits/: valid, disjoint, in range, and equal to
the class ids of the official files they were copied from (pinned below with their source)."""

from __future__ import annotations

import pytest

from neuron.config import load_split_spec

NUM_CLASSES = {"ntu60": 60, "ntu120": 120, "pku_mmd1": 51}

#: YujieOuO/SMIE, config.py, commit fa41f1d218621ab220c1b2186b513c0bcdee88c6 (split_1 ... split_9)
SMIE = {
    "ntu60_55_5_smie": [[4, 19, 31, 47, 51], [12, 29, 32, 44, 59], [7, 20, 28, 39, 58]],
    "ntu120_110_10_smie": [[3, 18, 26, 38, 41, 60, 87, 99, 102, 110], [5, 12, 14, 15, 17, 42, 67, 82, 100, 119],
                           [6, 20, 27, 33, 42, 55, 71, 97, 104, 118]],
    "pku_mmd1_46_5_smie": [[1, 9, 20, 34, 50], [3, 14, 29, 31, 49], [2, 15, 39, 41, 43]],
}

#: cseeyangchen/STAR, main_ntu_match.py / main_pku_match.py (``unseen_classes``), commit
#: 917ca673162e344f65b50328f2d4d7a1fe58bc7b: the main (index 0) split of each fixed-list file
STAR_MAIN = {
    "ntu60_55_5": [10, 11, 19, 26, 56],
    "ntu60_48_12": [3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59],
    "ntu120_110_10": [4, 13, 37, 43, 49, 65, 88, 95, 99, 106],
    "ntu120_96_24": [5, 9, 11, 16, 18, 20, 22, 29, 35, 39, 45, 49, 59, 68, 70, 81, 84, 87, 93, 94, 104, 113, 114, 119],
    "pku_mmd1_46_5": [1, 9, 20, 34, 50],
    "pku_mmd1_39_12": [3, 7, 11, 15, 19, 21, 25, 31, 33, 36, 43, 48],
}

#: SMIE's config.py ``unseen_label_5/12/10/24`` (the SynSE lists it compares on) equal STAR's lists
SMIE_SOTA = {"ntu60_55_5": [10, 11, 19, 26, 56], "ntu60_48_12": [3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59],
             "ntu120_110_10": [4, 13, 37, 43, 49, 65, 88, 95, 99, 106]}

#: azzh1/PURLS, supplements/label_splits/<dataset>/ru<k>.npy (unseen) and rs<n-k>.npy (seen), commit
#: fbede19a602a4f63af1530a5c63a5d2240b2af7f (sorted; the ru files list them in file order)
PURLS = {
    "ntu60_40_20_purls": [0, 12, 13, 14, 15, 16, 17, 22, 23, 26, 29, 30, 31, 35, 36, 42, 43, 48, 56, 57],
    "ntu60_30_30_purls": [0, 1, 2, 6, 7, 8, 10, 12, 13, 15, 16, 18, 20, 21, 25, 26, 27, 31, 32, 33, 39, 42, 45, 47,
                          48, 51, 52, 55, 58, 59],
    "ntu120_80_40_purls": [11, 12, 18, 22, 23, 26, 28, 34, 37, 38, 42, 44, 46, 47, 48, 57, 59, 64, 66, 70, 73, 74, 75,
                           83, 86, 90, 92, 93, 95, 96, 102, 104, 107, 108, 110, 112, 115, 116, 118, 119],
    "ntu120_60_60_purls": [0, 1, 4, 6, 7, 8, 9, 17, 18, 21, 23, 25, 26, 28, 30, 32, 33, 34, 37, 38, 39, 40, 41, 42, 44,
                           45, 50, 51, 52, 53, 56, 61, 62, 65, 67, 68, 69, 70, 74, 77, 78, 81, 83, 87, 89, 90, 91, 92,
                           94, 95, 96, 97, 100, 101, 109, 111, 114, 115, 116, 118],
}

#: PURLS' ru5 / ru12 (NTU-60) and ru10 / ru24 (NTU-120) at the same commit are STAR's fixed lists
PURLS_FIXED = {"ntu60_55_5": [10, 11, 19, 26, 56], "ntu60_48_12": [3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59],
               "ntu120_110_10": [4, 13, 37, 43, 49, 65, 88, 95, 99, 106],
               "ntu120_96_24": [5, 9, 11, 16, 18, 20, 22, 29, 35, 39, 45, 49, 59, 68, 70, 81, 84, 87, 93, 94, 104, 113,
                                114, 119]}

ALL = sorted(set(SMIE) | set(STAR_MAIN) | set(PURLS))


@pytest.mark.parametrize("name", ALL)
def test_split_file_is_valid(name):
    spec = load_split_spec(name)
    n = NUM_CLASSES[spec.dataset]
    spec.check_against(n, name)
    sizes = {len(u) for u in spec.unseen}
    assert len(sizes) == 1, "every split of a family has the same number of unseen classes"
    k = sizes.pop()
    assert name.split("_smie")[0].split("_purls")[0].endswith(f"_{n - k}_{k}")
    for i in range(len(spec.unseen)):
        seen, unseen = spec.seen_unseen(i, n)
        assert not set(seen) & set(unseen) and len(seen) + len(unseen) == n
        assert all(0 <= c < n for c in unseen)


@pytest.mark.parametrize("name", sorted(SMIE))
def test_smie_random_splits_match_official(name):
    assert [sorted(u) for u in load_split_spec(name).unseen] == SMIE[name]
    assert "YujieOuO/SMIE" in load_split_spec(name).source


@pytest.mark.parametrize("name", sorted(STAR_MAIN))
def test_fixed_lists_match_star(name):
    assert sorted(load_split_spec(name).unseen[0]) == STAR_MAIN[name]
    if name in SMIE_SOTA:
        assert SMIE_SOTA[name] == STAR_MAIN[name]


@pytest.mark.parametrize("name", sorted(PURLS))
def test_purls_splits_match_official(name):
    spec = load_split_spec(name)
    assert [sorted(u) for u in spec.unseen] == [PURLS[name]]
    assert "azzh1/PURLS" in spec.source and "fbede19a602a4f63af1530a5c63a5d2240b2af7f" in spec.source


@pytest.mark.parametrize("name", sorted(PURLS_FIXED))
def test_purls_small_splits_are_the_fixed_lists(name):
    assert sorted(load_split_spec(name).unseen[0]) == PURLS_FIXED[name] == STAR_MAIN[name]

"""Downloads fail clearly offline, are verified, and extraction refuses escaping paths."""
import zipfile

import pytest

from neuron import config
from neuron.data.cache import load_processed
from neuron.data.download import download, safe_extract_zip
from neuron.errors import DataError


def test_unreachable_host_says_where_to_put_files(tmp_path):
    with pytest.raises(DataError, match="could not download .*put it at"):
        download("http://127.0.0.1:9/Skeleton.zip", tmp_path / "Skeleton.zip", timeout=2)
    assert not (tmp_path / "Skeleton.zip").exists()  # nothing half-written


def test_checksum_mismatch(tmp_path):
    src = tmp_path / "src.zip"
    src.write_bytes(b"hello")
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        download(src.as_uri(), tmp_path / "out.zip", sha256="0" * 64)
    with pytest.raises(DataError, match="expected 6"):
        download(src.as_uri(), tmp_path / "out.zip", size=6)
    assert download(src.as_uri(), tmp_path / "ok.zip", size=5).read_bytes() == b"hello"


def test_zip_slip_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(DataError, match="escapes"):
        safe_extract_zip(bad, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("Skeleton/a1_s1_t1_skeleton.mat", "x")
    assert safe_extract_zip(good, tmp_path / "out")[0].name == "a1_s1_t1_skeleton.mat"


def test_missing_utd_offline_fails_with_instructions(tmp_path):
    spec = config.load_dataset_spec("utd_mhad")
    spec.download_url = "http://127.0.0.1:9/Skeleton.zip"
    with pytest.raises(DataError, match="could not download"):
        load_processed(spec, tmp_path, tmp_path / "cache", download=True)
    with pytest.raises(DataError, match="no raw files.*NEURON_DATA_ROOT.*UTD-MHAD page"):
        load_processed(spec, tmp_path, tmp_path / "cache", download=False)


def test_failed_download_leaves_no_folders(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DataError, match="could not download"):
        download("http://127.0.0.1:9/Skeleton.zip", root / "downloads" / "Skeleton.zip", timeout=2)
    assert not root.exists()  # neither data/ nor data/downloads/ stays behind
    (tmp_path / "keep").mkdir()
    src = tmp_path / "src.zip"
    src.write_bytes(b"hello")
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        download(src.as_uri(), tmp_path / "keep" / "downloads" / "out.zip", sha256="0" * 64)
    assert (tmp_path / "keep").is_dir() and not (tmp_path / "keep" / "downloads").exists()


def test_missing_utd_offline_leaves_data_root_clean(tmp_path):
    spec = config.load_dataset_spec("utd_mhad")
    spec.download_url = "http://127.0.0.1:9/Skeleton.zip"
    root = tmp_path / "data"
    with pytest.raises(DataError, match="could not download"):
        load_processed(spec, root, tmp_path / "cache", download=True)
    assert not (root / "downloads").exists()

import filecmp
from pathlib import Path

from hokusai_assets.lib.samples.digits import write_digits_example
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.settings.load import BUNDLED_CONFIG


def test_mock_task_is_byte_identical_across_runs(tmp_path):
    a = write_mock_task(tmp_path / "a", seed=3)
    b = write_mock_task(tmp_path / "b", seed=3)
    for name in ("baseline.parquet", "benchmark.parquet", "contribution.csv", "hokusai.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert a.wallet == b.wallet
    c = write_mock_task(tmp_path / "c", seed=4)
    assert (tmp_path / "c" / "contribution.csv").read_bytes() != (tmp_path / "a" / "contribution.csv").read_bytes()
    assert c.config_path.is_file()


def test_committed_example_is_exactly_what_the_generator_makes(tmp_path):
    written = write_digits_example(tmp_path)
    bundled = Path(BUNDLED_CONFIG).parent
    for name, path in written.items():
        assert filecmp.cmp(path, bundled / name, shallow=False), f"{name} differs: run python -m hokusai_assets.lib.samples.digits"

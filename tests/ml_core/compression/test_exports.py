"""ml_core.compression's public names: the literal __all__ lists exactly the lazily loaded names, and each loads."""
from ml_core import compression


def test_all_lists_exactly_the_lazy_exports_and_each_resolves():
    assert sorted(compression.__all__) == sorted(compression._EXPORTS)
    for name in compression.__all__:
        assert getattr(compression, name) is not None

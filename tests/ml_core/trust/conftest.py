import pytest


@pytest.fixture
def one_torch_thread():
    """Tiny models gain nothing from threads; on a shared CPU their spin-waits cost seconds."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

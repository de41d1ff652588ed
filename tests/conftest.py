import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HYPERLENS_CACHE", tempfile.mkdtemp(prefix="hyperlens-cache-"))  # maps the tests compute
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def tiny_inputs():
    """Two different inputs from two tasks, as the tests' standard batch."""
    return ["sentiment sentence: the film was not good at all", "qa question: who won? context: ana won in 1990."]

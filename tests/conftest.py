import os
import tempfile

import analysis  # noqa: F401,E402 -- sets the offline environment before anything imports transformers

os.environ.setdefault("HYPERLENS_CACHE", tempfile.mkdtemp(prefix="hyperlens-cache-"))  # maps the tests compute

import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def tiny_inputs():
    """Two different inputs from two tasks, as the tests' standard batch."""
    return ["sentiment sentence: the film was not good at all", "qa question: who won? context: ana won in 1990."]

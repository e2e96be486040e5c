import os
import sys

import pytest

# The package is the directory above, not an installed one.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHORT = os.environ.get("BADBATCH_SHORT") == "1"


@pytest.fixture
def server_url():
    url = os.environ.get("BADBATCH_URL")
    if not url:
        pytest.skip("BADBATCH_URL is not set: the Go test (go test ./bindings/python) starts a server and sets it")
    return url

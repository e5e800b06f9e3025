"""Project-wide test settings; the stacks several folders share are in tests/support/shared_stacks.py."""
import os

pytest_plugins = ["tests.support.shared_stacks"]

# Rasa would otherwise try to reach its telemetry endpoint from every process a test starts.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

"""Project-wide test settings: nothing here starts a service (see tests/support/)."""
import os

# Rasa would otherwise try to reach its telemetry endpoint from every process a test starts.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

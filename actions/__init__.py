"""The Tuibao action server: `rasa run actions --actions actions` registers every action here.

Split by concern: forms (identity check), quote, surrender, cases, handoff; settings in
``actions.config``, insurer wiring in ``actions.insurer_calls``.
"""
from redaction.logs import install as _install_log_redaction

# rasa-sdk offers no start-up hook but importing this package: the action server's logs (its
# own, Sanic's, the adapters') are masked from the first record on.
_install_log_redaction()

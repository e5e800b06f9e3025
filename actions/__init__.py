"""The Tuibao action server: `python -m actions.server` (actions/server.py) registers every action
here and answers only callers with the shared secret.

Split by concern: forms (identity check), quote, surrender, cases, handoff; settings in
``actions.config``, insurer wiring in ``actions.insurer_calls``.
"""
from redaction.logs import install as _install_log_redaction

# rasa-sdk offers no start-up hook but importing this package: the action server's logs (its
# own, Sanic's, the adapters') are masked from the first record on.
_install_log_redaction()

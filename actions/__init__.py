"""The Tuibao action server: `python -m actions.server` (actions/server.py) registers every action
here and answers only callers with the shared secret.

Split by concern: forms (identity check), quote, surrender, cases, handoff; settings in
``actions.config``, insurer wiring in ``actions.insurer_calls``.
"""

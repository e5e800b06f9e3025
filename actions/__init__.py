"""The Tuibao action server: `rasa run actions --actions actions` registers every action here.

Split by concern: forms (identity check), quote, surrender, cases, handoff; settings in
``actions.config``, insurer wiring in ``actions.insurer_calls``.
"""

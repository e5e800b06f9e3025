"""Custom Rasa graph components of the Tuibao NLU pipeline (see config.yml)."""

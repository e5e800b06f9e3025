"""The sandbox insurer: a real HTTP service with its own database that behaves like a Chinese
insurer's surrender API (identity check, quotes, cases, faults). See docs/insurer-api.md."""

"""PIPL in practice: what Tuibao keeps about a user, for how long, and how it goes.

- ``privacy.settings``: where every store the project owns lives, and the retention period;
- ``privacy.credentials``: the insurers' bearer tokens, sealed (the action server keeps them there);
- ``privacy.stores``: what is kept for one conversation, erasing it, purging what is old;
- ``python -m privacy.retention``: the scheduled purge (and an operator's erasure).
The user's own requests in the chat ("我的信息你们存了什么", "删除我的信息") are actions
(``actions.privacy``) built on ``privacy.stores``. See docs/privacy.md.
"""

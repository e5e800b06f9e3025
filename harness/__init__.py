"""The stack driven from outside, for the tests and the benchmarks alike: the project's real
processes started on free ports (``services``, ``stack``), callers that speak each channel's
protocol as WeChat and Telegram do (``wechat_caller``, ``telegram_caller``), processes that
compete for a conversation's lock (``contenders``) and the long-text probe (``long_texts``).

Nothing here runs at import: a stack starts only inside ``with tuibao_stack(...)``.
"""

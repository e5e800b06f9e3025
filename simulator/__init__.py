"""A local WeChat: the stand-in server API and a phone-sized chat page (``python -m simulator``)."""

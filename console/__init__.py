"""The agent console: customer-service agents take over escalated chats (127.0.0.1:8080).

A FastAPI app (``console.app.create_app``) with the JSON API of the conversation contract
("Agent console"), server-sent events for live updates, and a plain HTML/JS page. It keeps no
state of its own (sessions, queue, audit log are in the handoff database), so several can run
behind a load balancer. ``python -m console`` runs it; ``python -m console.admin`` manages
accounts.
"""

"""The scaled-out stack on one machine (``bin/cluster``, conversation contract "Scaled-out
stack"): an nginx ingress, several Rasa replicas and action servers, the sandbox insurer, the
WeChat/Telegram simulator and the agent console, sharing the machine's PostgreSQL, Redis and
RabbitMQ as deploy/endpoints.scale.yml describes.

    python -m cluster up | status | kill NAME | start NAME | down [--wipe]
"""

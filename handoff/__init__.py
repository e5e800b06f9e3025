"""Handoff to a person: the queue of chats waiting for an agent, who has which chat, what agents
wrote, the audit log of every access, the console's accounts and sessions and the desk's hours.

The desk store that the action server (``action_handoff`` queues a chat), the agent console
(``console/``) and the privacy tools (``privacy.stores``) share; what only the console does with
it (transcripts, delivery of agent replies through the user's channel, Rasa API calls) lives in
``console/``. Nothing here touches a database or the network at import: engines are created
on first use (``handoff.store.engine_for``).
"""

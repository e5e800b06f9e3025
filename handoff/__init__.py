"""Handoff to a person: the queue of chats waiting for an agent, who has which chat, what agents
wrote, the audit log of every access, the console's accounts and sessions, the desk's hours and
the delivery of agent replies through the user's own channel.

Used by the action server (``action_handoff`` queues a chat), the agent console (``console/``)
and the channels (``handoff.delivery``). Nothing here touches a database or the network at
import: engines are created on first use (``handoff.store.engine_for``).
"""

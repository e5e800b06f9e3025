"""The ground floor: the facts every part of Tuibao shares, imported by them and importing none
of them (tests/ground/test_layering.py).

- ``identifiers``: what users type or dictate (policy, ID, phone, SMS code, case numbers):
  normalise, validate, find in a message;
- ``number_formats``: each insurer's policy and case number formats, the one reader of them in
  insurers.yml (patterns, check rules, real dates);
- ``stages``: ``Stage``, the values of the dialogue's ``stage`` slot (equal to domain.yml's);
- ``conversation_ids``: which channel a conversation belongs to (prefixes, ``channel_of``);
- ``redis_options``: how every Redis client connects, so that a Redis restart costs no message;
- ``guarded_slots``: the slots ``action_validate_slot_mappings`` keeps to a string or nothing.
"""

-- Runs once, when the postgres volume is empty (the image's /docker-entrypoint-initdb.d).
-- tuibao (POSTGRES_DB) is the tracker store; one database per other store, as in production.
CREATE DATABASE tuibao_handoff;      -- handoff queue, agent turns, audit log, console accounts
CREATE DATABASE tuibao_credentials;  -- the action servers' sealed insurer tokens
CREATE DATABASE tuibao_review;       -- the trainers' review queue (masked messages)
CREATE DATABASE sandbox;             -- the sandbox insurer (profile "sandbox" only)

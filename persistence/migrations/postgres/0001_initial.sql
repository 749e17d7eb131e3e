-- Holobionte store, PostgreSQL (15 and 16), migration 1: every table of docs/storage.md.
-- Timestamps are unix milliseconds; bytea columns are described in persistence/row_codec.hpp.
CREATE TABLE journal (
  request_id       text PRIMARY KEY,
  owner            text NOT NULL DEFAULT '',
  client_id        text NOT NULL DEFAULT '',
  router_node      text NOT NULL DEFAULT '',
  model            text NOT NULL DEFAULT '',
  served_model     text NOT NULL DEFAULT '',
  session_id       text NOT NULL DEFAULT '',
  prompt           text,                          -- NULL: the request has chat messages
  messages         bytea NOT NULL DEFAULT '',     -- MessagePack [[role, content], ...]
  sampling         bytea NOT NULL DEFAULT '',     -- MessagePack map
  seed             bigint NOT NULL DEFAULT 0,
  max_tokens       bigint NOT NULL DEFAULT 0,
  delivered_tokens bytea NOT NULL DEFAULT '',     -- int32 little-endian
  delivered_texts  bytea NOT NULL DEFAULT '',     -- MessagePack [text, ...]
  delivered_count  bigint NOT NULL DEFAULT 0,
  status           text NOT NULL,
  finish_reason    text NOT NULL DEFAULT '',
  attempts         bigint NOT NULL DEFAULT 0,
  revision         bigint NOT NULL DEFAULT 0,
  created_ms       bigint NOT NULL,
  updated_ms       bigint NOT NULL
);
CREATE INDEX journal_unfinished ON journal (created_ms) WHERE status IN ('accepted', 'running');
CREATE INDEX journal_session ON journal (session_id) WHERE session_id <> '';

CREATE TABLE sessions (
  session_id text NOT NULL,
  seq        bigint NOT NULL,
  role       text NOT NULL,
  content    text NOT NULL,
  request_id text NOT NULL DEFAULT '',
  created_ms bigint NOT NULL,
  PRIMARY KEY (session_id, seq)
);

CREATE TABLE checkpoints (
  actor      text NOT NULL,
  key        text NOT NULL,
  sequence   bigint NOT NULL,
  blob       bytea NOT NULL,
  updated_ms bigint NOT NULL,
  PRIMARY KEY (actor, key)
);

CREATE TABLE membership_events (
  event_id    text PRIMARY KEY,
  observer    text NOT NULL,
  peer        text NOT NULL,
  state       text NOT NULL,
  incarnation bigint NOT NULL,
  at_ms       bigint NOT NULL
);
CREATE INDEX membership_events_at ON membership_events (at_ms);

CREATE TABLE backups (
  backup_id   text PRIMARY KEY,
  node        text NOT NULL,
  path        text NOT NULL,
  bytes       bigint NOT NULL,
  sha256      text NOT NULL,
  status      text NOT NULL,
  created_ms  bigint NOT NULL,
  verified_ms bigint NOT NULL DEFAULT 0,
  note        text NOT NULL DEFAULT ''
);

-- One entry per changed row not yet shipped by the sync actor; re-changing a row moves its entry
-- to the end (a new seq from outbox_seq).
CREATE SEQUENCE outbox_seq;
CREATE TABLE outbox (
  kind    text NOT NULL,
  row_key text NOT NULL,
  seq     bigint NOT NULL,
  PRIMARY KEY (kind, row_key)
);
CREATE UNIQUE INDEX outbox_seq_idx ON outbox (seq);

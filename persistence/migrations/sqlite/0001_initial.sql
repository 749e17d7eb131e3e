-- Holobionte store, SQLite, migration 1: every table of docs/storage.md.
-- Timestamps are unix milliseconds; blobs are described in persistence/row_codec.hpp.
CREATE TABLE journal (
  request_id       TEXT PRIMARY KEY,
  owner            TEXT NOT NULL DEFAULT '',
  client_id        TEXT NOT NULL DEFAULT '',
  router_node      TEXT NOT NULL DEFAULT '',
  model            TEXT NOT NULL DEFAULT '',
  served_model     TEXT NOT NULL DEFAULT '',
  session_id       TEXT NOT NULL DEFAULT '',
  prompt           TEXT,                         -- NULL: the request has chat messages
  messages         BLOB NOT NULL DEFAULT x'',    -- MessagePack [[role, content], ...]
  sampling         BLOB NOT NULL DEFAULT x'',    -- MessagePack map
  seed             INTEGER NOT NULL DEFAULT 0,
  max_tokens       INTEGER NOT NULL DEFAULT 0,
  delivered_tokens BLOB NOT NULL DEFAULT x'',    -- int32 little-endian
  delivered_texts  BLOB NOT NULL DEFAULT x'',    -- MessagePack [text, ...]
  delivered_count  INTEGER NOT NULL DEFAULT 0,
  status           TEXT NOT NULL,
  finish_reason    TEXT NOT NULL DEFAULT '',
  attempts         INTEGER NOT NULL DEFAULT 0,
  revision         INTEGER NOT NULL DEFAULT 0,
  created_ms       INTEGER NOT NULL,
  updated_ms       INTEGER NOT NULL
);
CREATE INDEX journal_unfinished ON journal (created_ms) WHERE status IN ('accepted', 'running');
CREATE INDEX journal_session ON journal (session_id) WHERE session_id <> '';

CREATE TABLE sessions (
  session_id TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  role       TEXT NOT NULL,
  content    TEXT NOT NULL,
  request_id TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq)
);

CREATE TABLE checkpoints (
  actor      TEXT NOT NULL,
  key        TEXT NOT NULL,
  sequence   INTEGER NOT NULL,
  blob       BLOB NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (actor, key)
);

CREATE TABLE membership_events (
  event_id    TEXT PRIMARY KEY,
  observer    TEXT NOT NULL,
  peer        TEXT NOT NULL,
  state       TEXT NOT NULL,
  incarnation INTEGER NOT NULL,
  at_ms       INTEGER NOT NULL
);
CREATE INDEX membership_events_at ON membership_events (at_ms);

CREATE TABLE backups (
  backup_id   TEXT PRIMARY KEY,
  node        TEXT NOT NULL,
  path        TEXT NOT NULL,
  bytes       INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  status      TEXT NOT NULL,
  created_ms  INTEGER NOT NULL,
  verified_ms INTEGER NOT NULL DEFAULT 0,
  note        TEXT NOT NULL DEFAULT ''
);

-- One entry per changed row not yet shipped by the sync actor; re-changing a row moves its entry
-- to the end (a new seq).
CREATE TABLE outbox (
  kind    TEXT NOT NULL,      -- journal, session, event
  row_key TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  PRIMARY KEY (kind, row_key)
);
CREATE UNIQUE INDEX outbox_seq ON outbox (seq);
-- The last seq handed out: never decreases, so a sync cursor stays valid after acks empty the outbox.
CREATE TABLE outbox_counter (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
);
INSERT INTO outbox_counter (id, value) VALUES (1, 0);

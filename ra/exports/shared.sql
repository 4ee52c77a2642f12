-- Shared by every export: run it first, on the same connection, then the
-- export's own file. It reads the log once and keeps what the exports read
-- in temporary tables (they go with the connection; the log is not written):
--   export_events       the events the exports read: every event of an
--                       invitation's stream, and a session's start and end,
--                       consent, control and refused input; each with its
--                       actor's key (actor_key), its payload (JSON text) and
--                       at_us, its time in microseconds since 1970.
--   export_invitations  each invitation's creation: its stream, seq,
--                       created_at, name (the person) and expires_at.
--   export_accepted     each invitation.accepted: its seq, stream and the
--                       session (session:<id>) it let in.
--   export_sessions     per session stream: the invitation the helper came in
--                       by, the person (that invitation's name), the helper as
--                       authenticated (helper: the name it gave, helper_key:
--                       the fingerprint of the key it proved, helper_address:
--                       where it came from), authenticated_at, and who_seqs:
--                       the events that say so (authentication, invitation
--                       accepted, invitation created), each after a comma.
--   export_filter       the filters, one row: since, until, session, person
--                       and helper, as text (NULL: not limited).
-- and the rule every export keeps its rows by, stated here only:
--   export_kept         a view of the rows an export's file puts in
--                       temp.export_rows (each with first_seq, at,
--                       session_stream, person, helper and helper_key) that
--                       the filters keep: at at or after since and before
--                       until, session_stream the session, person the person,
--                       and the helper either helper (a name) or helper_key
--                       (a key fingerprint). The export then reads its rows
--                       from export_kept, in first_seq order.
-- Parameters (NULL for none): :size (read only the first :size events: the
-- export's checkpoint), :since, :until (UTC, as 2026-11-25T10:00:00.000000Z),
-- :session (session:<id>), :person, :helper (a name or a key fingerprint).
-- With the sqlite3 shell, read-only:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read shared.sql
--   .read consent.sql
DROP TABLE IF EXISTS temp.export_events;
DROP TABLE IF EXISTS temp.export_invitations;
DROP TABLE IF EXISTS temp.export_accepted;
DROP TABLE IF EXISTS temp.export_sessions;
DROP TABLE IF EXISTS temp.export_filter;
DROP VIEW IF EXISTS temp.export_kept;
CREATE TEMP TABLE export_events (
    seq INTEGER PRIMARY KEY, stream TEXT, type TEXT, occurred_at TEXT, actor_kind TEXT,
    actor_id TEXT, actor_key TEXT, origin TEXT, outcome TEXT, payload TEXT, at_us INTEGER
);
INSERT INTO export_events
SELECT seq, stream, type, occurred_at, actor_kind, actor_id,
       json_extract(body, '$.actor.key'), origin, outcome, payload,
       CAST(strftime('%s', occurred_at) AS INTEGER) * 1000000
           + CAST(substr(occurred_at, 21, 6) AS INTEGER)
FROM audit_log
WHERE (:size IS NULL OR seq < :size)
  AND (substr(stream, 1, 11) = 'invitation:'
       OR type IN ('session.connected', 'session.authenticated', 'session.disconnected',
                   'consent.requested', 'consent.granted', 'consent.denied',
                   'control.granted', 'control.released', 'input.rejected'));
CREATE INDEX temp.export_events_by_stream ON export_events (stream, seq);
CREATE TEMP TABLE export_invitations AS
SELECT seq, stream, occurred_at AS created_at,
       json_extract(payload, '$.name')       AS name,
       json_extract(payload, '$.expires_at') AS expires_at
FROM export_events WHERE type = 'invitation.created';
CREATE INDEX temp.export_invitations_by_stream ON export_invitations (stream);
CREATE TEMP TABLE export_accepted AS
SELECT seq, stream, 'session:' || json_extract(payload, '$.session_id') AS session
FROM export_events WHERE type = 'invitation.accepted';
CREATE INDEX temp.export_accepted_by_session ON export_accepted (session);
CREATE TEMP TABLE export_sessions AS
SELECT s.stream                                  AS stream,
       substr(acc.stream, 12)                    AS invitation,
       cr.name                                   AS person,
       json_extract(au.payload, '$.helper')      AS helper,
       json_extract(au.payload, '$.fingerprint') AS helper_key,
       json_extract(au.payload, '$.address')     AS helper_address,
       au.occurred_at                            AS authenticated_at,
       coalesce(',' || au.seq, '') || coalesce(',' || acc.seq, '')
           || coalesce(',' || cr.seq, '')        AS who_seqs
FROM (SELECT DISTINCT stream FROM export_events WHERE substr(stream, 1, 8) = 'session:') s
LEFT JOIN export_events au ON au.stream = s.stream AND au.type = 'session.authenticated'
LEFT JOIN export_accepted acc ON acc.session = s.stream
LEFT JOIN export_invitations cr ON cr.stream = acc.stream;
CREATE INDEX temp.export_sessions_by_stream ON export_sessions (stream);
CREATE TEMP TABLE export_filter (since TEXT, until TEXT, session TEXT, person TEXT, helper TEXT);
INSERT INTO export_filter VALUES (:since, :until, :session, :person, :helper);
CREATE TEMP VIEW export_kept AS
SELECT r.* FROM export_rows r, export_filter f
WHERE (f.since IS NULL OR r.at >= f.since)
  AND (f.until IS NULL OR r.at < f.until)
  AND (f.session IS NULL OR r.session_stream = f.session)
  AND (f.person IS NULL OR r.person = f.person)
  AND (f.helper IS NULL OR r.helper = f.helper OR r.helper_key = f.helper);

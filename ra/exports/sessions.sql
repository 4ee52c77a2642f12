-- Sessions: one row per session, from the helper's connection to its end.
-- session, invitation, person (the invitation's name), helper, helper_key
-- and helper_address (as authenticated: the name it gave, the fingerprint of
-- the key it proved, where it came from), connected_at, authenticated_at,
-- ended_at (empty if the log ends first), duration_ms, ended_by (person,
-- helper or system), end_reason (view consent denied, or why it disconnected),
-- end_outcome, and seqs: the events the row is read from (connected, the
-- end, authenticated, invitation accepted, invitation created).
-- It reads the tables shared.sql makes and keeps the rows its filters keep
-- (export_kept there: :since and :until are about connected_at, :session,
-- :person and :helper about the row's); run shared.sql first, with the
-- parameters, e.g. with the sqlite3 shell, read-only:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read shared.sql
--   .read sessions.sql
DROP TABLE IF EXISTS temp.export_rows;
CREATE TEMP TABLE export_rows AS
WITH connected AS MATERIALIZED (
    SELECT min(seq) AS seq, stream FROM export_events
    WHERE type = 'session.connected' AND substr(stream, 1, 8) = 'session:' GROUP BY stream
),
ended AS MATERIALIZED (  -- a session ends when it disconnects, or when view is denied
    SELECT seq, stream, occurred_at, at_us, outcome,
           CASE type WHEN 'session.disconnected' THEN json_extract(payload, '$.by')
                     ELSE actor_kind END AS by,
           CASE type WHEN 'session.disconnected' THEN json_extract(payload, '$.reason')
                     ELSE 'view consent denied' END AS reason
    FROM export_events
    WHERE type = 'session.disconnected'
       OR (type = 'consent.denied' AND json_extract(payload, '$.scope') = 'view')
)
SELECT
    w.*,  -- the session's invitation, person, helper, ... as shared.sql reads them
    c.seq AS first_seq, c.stream AS session_stream, ce.occurred_at AS at,
    substr(c.stream, 9)                 AS session,
    en.occurred_at                      AS ended_at,
    (en.at_us - ce.at_us) / 1000        AS duration_ms,
    en.by                               AS ended_by,
    en.reason                           AS end_reason,
    en.outcome                          AS end_outcome,
    c.seq || coalesce(',' || en.seq, '') || coalesce(w.who_seqs, '') AS seqs
FROM connected c
JOIN export_events ce ON ce.seq = c.seq
LEFT JOIN ended en ON en.stream = c.stream
LEFT JOIN export_sessions w ON w.stream = c.stream;
SELECT session, invitation, person, helper, helper_key, helper_address, at AS connected_at,
       authenticated_at, ended_at, duration_ms, ended_by, end_reason, end_outcome, seqs
FROM export_kept ORDER BY first_seq;

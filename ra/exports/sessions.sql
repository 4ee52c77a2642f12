-- Sessions: one row per session, from the helper's connection to its end.
-- session, invitation, person (the invitation's name), helper, helper_key
-- and helper_address (as authenticated: the name it gave, the fingerprint of
-- the key it proved, where it came from), connected_at, authenticated_at,
-- ended_at (empty if the log ends first), duration_ms, ended_by (person,
-- helper or system), end_reason (view consent denied, or why it disconnected),
-- end_outcome, and seqs: the events the row
-- is read from (connected, authenticated, the end, invitation accepted,
-- invitation created).
-- Parameters (NULL for none): :size (read only the first :size events: the
-- export's checkpoint), :since, :until (connected at or after, before; UTC,
-- as 2026-11-25T10:00:00.000000Z), :session (session:<id>), :person, :helper
-- (a name or a key fingerprint). Read-only, e.g. with the sqlite3 shell:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read sessions.sql
WITH ev AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, outcome, actor_kind, body
    FROM audit_log
    WHERE (:size IS NULL OR seq < :size)
      AND type IN ('session.connected', 'session.authenticated', 'session.disconnected',
                   'consent.denied', 'invitation.accepted', 'invitation.created')
),
connected AS MATERIALIZED (
    SELECT min(seq) AS seq, stream FROM ev
    WHERE type = 'session.connected' AND substr(stream, 1, 8) = 'session:' GROUP BY stream
),
authenticated AS MATERIALIZED (
    SELECT seq, stream, occurred_at,
           json_extract(body, '$.payload.helper')      AS helper,
           json_extract(body, '$.payload.fingerprint') AS fingerprint,
           json_extract(body, '$.payload.address')     AS address
    FROM ev WHERE type = 'session.authenticated'
),
ended AS MATERIALIZED (  -- a session ends when it disconnects, or when view is denied
    SELECT seq, stream, occurred_at, outcome,
           CASE type WHEN 'session.disconnected' THEN json_extract(body, '$.payload.by')
                     ELSE actor_kind END AS by,
           CASE type WHEN 'session.disconnected' THEN json_extract(body, '$.payload.reason')
                     ELSE 'view consent denied' END AS reason
    FROM ev
    WHERE type = 'session.disconnected'
       OR (type = 'consent.denied' AND json_extract(body, '$.payload.scope') = 'view')
),
accepted AS MATERIALIZED (
    SELECT seq, stream AS invitation,
           'session:' || json_extract(body, '$.payload.session_id') AS session
    FROM ev WHERE type = 'invitation.accepted'
),
created AS MATERIALIZED (
    SELECT seq, stream AS invitation, json_extract(body, '$.payload.name') AS name
    FROM ev WHERE type = 'invitation.created'
),
sessions AS MATERIALIZED (
    SELECT
        c.seq AS first_seq, c.stream AS stream,
        substr(c.stream, 9)                 AS session,
        substr(acc.invitation, 12)          AS invitation,
        cr.name                             AS person,
        au.helper                           AS helper,
        au.fingerprint                      AS helper_key,
        au.address                          AS helper_address,
        ce.occurred_at                      AS connected_at,
        au.occurred_at                      AS authenticated_at,
        en.occurred_at                      AS ended_at,
        CASE WHEN en.seq IS NOT NULL THEN
            (CAST(strftime('%s', en.occurred_at) AS INTEGER)
             - CAST(strftime('%s', ce.occurred_at) AS INTEGER)) * 1000
            + (CAST(substr(en.occurred_at, 21, 6) AS INTEGER)
               - CAST(substr(ce.occurred_at, 21, 6) AS INTEGER)) / 1000 END AS duration_ms,
        en.by                               AS ended_by,
        en.reason                           AS end_reason,
        en.outcome                          AS end_outcome,
        c.seq || coalesce(',' || au.seq, '') || coalesce(',' || en.seq, '')
              || coalesce(',' || acc.seq, '') || coalesce(',' || cr.seq, '') AS seqs
    FROM connected c
    JOIN ev ce ON ce.seq = c.seq
    LEFT JOIN authenticated au ON au.stream = c.stream
    LEFT JOIN ended en ON en.stream = c.stream
    LEFT JOIN accepted acc ON acc.session = c.stream
    LEFT JOIN created cr ON cr.invitation = acc.invitation
)
SELECT session, invitation, person, helper, helper_key, helper_address, connected_at,
       authenticated_at, ended_at, duration_ms, ended_by, end_reason, end_outcome, seqs
FROM sessions
WHERE (:since IS NULL OR connected_at >= :since)
  AND (:until IS NULL OR connected_at < :until)
  AND (:session IS NULL OR stream = :session)
  AND (:person IS NULL OR person = :person)
  AND (:helper IS NULL OR helper = :helper OR helper_key = :helper)
ORDER BY first_seq;

-- Authentication: one row per try at an invitation's password that ra
-- recorded: accepted (the helper proved the password and its key), failed
-- (a wrong password, or the right one with a signature that does not hold),
-- throttled (tries refused while waiting after a failure, counted) and
-- locked (too many failures). at, invitation, person (the invitation's
-- name), result, reason, attempt (the failure's number), count (tries the
-- row stands for), origin (where the try came from), helper and helper_key
-- (the name it gave and the fingerprint of the key it proved, when known),
-- session (the session an accepted try opened), and seqs: the events the
-- row is read from (the try, then the invitation's creation).
-- It reads the tables shared.sql makes and keeps the rows its filters keep
-- (export_kept there: :since and :until are about at, :session is the
-- session the try opened, :person the invitation's, :helper the try's); run
-- shared.sql first, with the parameters, e.g. with the sqlite3 shell, read-only:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read shared.sql
--   .read auth.sql
DROP TABLE IF EXISTS temp.export_rows;
CREATE TEMP TABLE export_rows AS
SELECT
    t.seq AS first_seq,
    t.occurred_at                                        AS at,
    substr(t.stream, 12)                                 AS invitation,
    cr.name                                              AS person,
    CASE t.type WHEN 'invitation.accepted' THEN 'accepted'
                WHEN 'auth.failed' THEN 'failed'
                WHEN 'auth.throttled' THEN 'throttled'
                ELSE 'locked' END                        AS result,
    json_extract(t.payload, '$.reason')                  AS reason,
    json_extract(t.payload, '$.attempt')                 AS attempt,
    CASE t.type WHEN 'auth.throttled' THEN json_extract(t.payload, '$.count')
                WHEN 'invitation.locked' THEN 0 ELSE 1 END AS count,
    coalesce(json_extract(t.payload, '$.origin'), t.origin) AS origin,
    CASE WHEN t.actor_kind = 'helper' THEN t.actor_id END AS helper,
    t.actor_key                                          AS helper_key,
    'session:' || json_extract(t.payload, '$.session_id') AS session_stream,
    t.seq || coalesce(',' || cr.seq, '')                 AS seqs
FROM export_events t
LEFT JOIN export_invitations cr ON cr.stream = t.stream
WHERE t.type IN ('auth.failed', 'auth.throttled', 'invitation.locked',
                 'invitation.accepted')
  AND substr(t.stream, 1, 11) = 'invitation:';
SELECT at, invitation, person, result, reason, attempt, count, origin, helper, helper_key,
       substr(session_stream, 9) AS session, seqs
FROM export_kept ORDER BY first_seq;

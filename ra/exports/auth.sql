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
-- Parameters (NULL for none): :size (read only the first :size events: the
-- export's checkpoint), :since, :until (at or after, before; UTC, as
-- 2026-11-25T10:00:00.000000Z), :session (session:<id>), :person, :helper
-- (a name or a key fingerprint). Reads the tables shared.sql makes: run
-- that first, e.g. with the sqlite3 shell, read-only:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read shared.sql
--   .read auth.sql
WITH tries AS MATERIALIZED (
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
      AND substr(t.stream, 1, 11) = 'invitation:'
)
SELECT at, invitation, person, result, reason, attempt, count, origin, helper, helper_key,
       substr(session_stream, 9) AS session, seqs
FROM tries
WHERE (:since IS NULL OR at >= :since)
  AND (:until IS NULL OR at < :until)
  AND (:session IS NULL OR session_stream = :session)
  AND (:person IS NULL OR person = :person)
  AND (:helper IS NULL OR helper = :helper OR helper_key = :helper)
ORDER BY first_seq;

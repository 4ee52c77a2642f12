-- Consent: one row per consent question (view or control) and its answer.
-- session, invitation (the one the helper came in by), person (who shares
-- the screen: the invitation's name, or who answered), helper (the name it
-- gave) and helper_key (the fingerprint of the key it proved), scope (what
-- was asked: view or control), answer (granted, denied; empty if the session
-- ended first), reason (declined, timed out, ...), answered_by, asked_at,
-- answered_at, took_ms, origin (the address the helper came from), and seqs:
-- the events the row is read from (question, answer, authentication,
-- invitation accepted, invitation created).
-- Parameters (NULL for none): :size (read only the first :size events: the
-- export's checkpoint), :since, :until (asked at or after, before; UTC, as
-- 2026-11-25T10:00:00.000000Z), :session (session:<id>), :person, :helper
-- (a name or a key fingerprint). Read-only, e.g. with the sqlite3 shell:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read consent.sql
WITH ev AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, actor_kind, actor_id, origin, body
    FROM audit_log
    WHERE (:size IS NULL OR seq < :size)
      AND type IN ('consent.requested', 'consent.granted', 'consent.denied',
                   'session.authenticated', 'invitation.accepted', 'invitation.created')
),
consent AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, actor_kind, actor_id, origin,
           json_extract(body, '$.actor.key')     AS actor_key,
           json_extract(body, '$.payload.scope')  AS scope,
           json_extract(body, '$.payload.reason') AS reason,
           lead(seq) OVER (PARTITION BY stream ORDER BY seq) AS next_seq
    FROM ev
    WHERE type IN ('consent.requested', 'consent.granted', 'consent.denied')
      AND substr(stream, 1, 8) = 'session:'
),
authenticated AS MATERIALIZED (
    SELECT seq, stream,
           json_extract(body, '$.payload.helper')      AS helper,
           json_extract(body, '$.payload.fingerprint') AS fingerprint,
           json_extract(body, '$.payload.address')     AS address
    FROM ev WHERE type = 'session.authenticated'
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
asked AS MATERIALIZED (
    SELECT
        substr(q.stream, 9)                                    AS session,
        substr(acc.invitation, 12)                             AS invitation,
        coalesce(cr.name, CASE WHEN a.actor_kind = 'person' THEN a.actor_id END) AS person,
        coalesce(au.helper, q.actor_id)                        AS helper,
        coalesce(au.fingerprint, q.actor_key)                  AS helper_key,
        q.scope                                                AS scope,
        CASE a.type WHEN 'consent.granted' THEN 'granted'
                    WHEN 'consent.denied' THEN 'denied' END    AS answer,
        a.reason                                               AS reason,
        a.actor_kind                                           AS answered_by,
        q.occurred_at                                          AS asked_at,
        a.occurred_at                                          AS answered_at,
        CASE WHEN a.seq IS NOT NULL THEN
            (CAST(strftime('%s', a.occurred_at) AS INTEGER)
             - CAST(strftime('%s', q.occurred_at) AS INTEGER)) * 1000
            + (CAST(substr(a.occurred_at, 21, 6) AS INTEGER)
               - CAST(substr(q.occurred_at, 21, 6) AS INTEGER)) / 1000 END AS took_ms,
        coalesce(au.address, q.origin)                         AS origin,
        q.seq || coalesce(',' || a.seq, '') || coalesce(',' || au.seq, '')
             || coalesce(',' || acc.seq, '') || coalesce(',' || cr.seq, '') AS seqs,
        q.seq                                                  AS first_seq,
        q.stream                                               AS stream
    FROM consent q
    LEFT JOIN consent a ON a.seq = q.next_seq AND a.type <> 'consent.requested'
                       AND a.scope IS q.scope
    LEFT JOIN authenticated au ON au.stream = q.stream
    LEFT JOIN accepted acc ON acc.session = q.stream
    LEFT JOIN created cr ON cr.invitation = acc.invitation
    WHERE q.type = 'consent.requested'
)
SELECT session, invitation, person, helper, helper_key, scope, answer, reason,
       answered_by, asked_at, answered_at, took_ms, origin, seqs
FROM asked
WHERE (:since IS NULL OR asked_at >= :since)
  AND (:until IS NULL OR asked_at < :until)
  AND (:session IS NULL OR stream = :session)
  AND (:person IS NULL OR person = :person)
  AND (:helper IS NULL OR helper = :helper OR helper_key = :helper)
ORDER BY first_seq;

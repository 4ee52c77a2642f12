-- Consent: one row per consent question (view or control) and its answer.
-- session, invitation (the one the helper came in by), person (who shares
-- the screen: the invitation's name, or who answered), helper (the name it
-- gave) and helper_key (the fingerprint of the key it proved), scope (what
-- was asked: view or control), answer (granted, denied; empty if the session
-- ended first), reason (declined, timed out, ...), answered_by, asked_at,
-- answered_at, took_ms, origin (the address the helper came from), and seqs:
-- the events the row is read from (question, answer, authentication,
-- invitation accepted, invitation created).
-- It reads the tables shared.sql makes and keeps the rows its filters keep
-- (export_kept there: :since and :until are about asked_at, :session,
-- :person and :helper about the row's); run shared.sql first, with the
-- parameters, e.g. with the sqlite3 shell, read-only:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read shared.sql
--   .read consent.sql
DROP TABLE IF EXISTS temp.export_rows;
CREATE TEMP TABLE export_rows AS
WITH consent AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, at_us, actor_kind, actor_id, actor_key, origin,
           json_extract(payload, '$.scope')  AS scope,
           json_extract(payload, '$.reason') AS reason,
           lead(seq) OVER (PARTITION BY stream ORDER BY seq) AS next_seq
    FROM export_events
    WHERE type IN ('consent.requested', 'consent.granted', 'consent.denied')
      AND substr(stream, 1, 8) = 'session:'
)
SELECT
    substr(q.stream, 9)                                    AS session,
    w.invitation                                           AS invitation,
    coalesce(w.person, CASE WHEN a.actor_kind = 'person' THEN a.actor_id END) AS person,
    coalesce(w.helper, q.actor_id)                         AS helper,
    coalesce(w.helper_key, q.actor_key)                    AS helper_key,
    q.scope                                                AS scope,
    CASE a.type WHEN 'consent.granted' THEN 'granted'
                WHEN 'consent.denied' THEN 'denied' END    AS answer,
    a.reason                                               AS reason,
    a.actor_kind                                           AS answered_by,
    q.occurred_at                                          AS at,
    a.occurred_at                                          AS answered_at,
    (a.at_us - q.at_us) / 1000                             AS took_ms,
    coalesce(w.helper_address, q.origin)                   AS origin,
    q.seq || coalesce(',' || a.seq, '') || coalesce(w.who_seqs, '') AS seqs,
    q.seq                                                  AS first_seq,
    q.stream                                               AS session_stream
FROM consent q
LEFT JOIN consent a ON a.seq = q.next_seq AND a.type <> 'consent.requested'
                   AND a.scope IS q.scope
LEFT JOIN export_sessions w ON w.stream = q.stream
WHERE q.type = 'consent.requested';
SELECT session, invitation, person, helper, helper_key, scope, answer, reason,
       answered_by, at AS asked_at, answered_at, took_ms, origin, seqs
FROM export_kept ORDER BY first_seq;

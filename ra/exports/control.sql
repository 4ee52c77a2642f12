-- Control: one row per grant of control, from the grant to its release.
-- session, invitation, person (who shares the screen: the invitation's
-- name, or who granted), helper and helper_key (the name it gave and the
-- fingerprint of the key it proved), granted_at, released_at (empty if the
-- log ends first), released_by (person, helper or system), released_via
-- (esc, button, command, disconnect, ...), duration_ms, inputs_injected
-- (input the person's side injected for the helper in this grant, as its
-- release counts it; empty if the release does not say: the log ends first,
-- or it was recorded by the helper's side, after a crash, or by an older ra),
-- inputs_rejected (input refused while in control, e.g. Esc, which is never
-- injected; input.rejected events are recorded counted), and seqs: the
-- events the row is read from (grant, release, authentication, invitation
-- accepted, invitation created, then each input.rejected).
-- It reads the tables shared.sql makes and keeps the rows its filters keep
-- (export_kept there: :since and :until are about granted_at, :session,
-- :person and :helper about the row's); run shared.sql first, with the
-- parameters, e.g. with the sqlite3 shell, read-only:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read shared.sql
--   .read control.sql
DROP TABLE IF EXISTS temp.export_rows;
CREATE TEMP TABLE export_rows AS
WITH moves AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, at_us, actor_kind, actor_id, payload,
           lead(seq) OVER (PARTITION BY stream ORDER BY seq) AS next_seq
    FROM export_events
    WHERE type IN ('control.granted', 'control.released') AND substr(stream, 1, 8) = 'session:'
),
rejected AS MATERIALIZED (
    SELECT seq, stream, coalesce(json_extract(payload, '$.count'), 1) AS count
    FROM export_events WHERE type = 'input.rejected'
),
marked AS MATERIALIZED (  -- each move and refusal, with the last grant and release up to it
    SELECT seq, type, count,
           max(CASE WHEN type = 'control.granted' THEN seq END) OVER w AS grant_seq,
           max(CASE WHEN type = 'control.released' THEN seq END) OVER w AS release_seq
    FROM (SELECT seq, stream, type, NULL AS count FROM moves
          UNION ALL SELECT seq, stream, 'input.rejected', count FROM rejected)
    WINDOW w AS (PARTITION BY stream ORDER BY seq)
),
held AS MATERIALIZED (  -- each grant, with the input refused between it and its release
    SELECT grant_seq,
           sum(CASE WHEN type = 'input.rejected' THEN count END) AS inputs_rejected,
           group_concat(CASE WHEN type = 'input.rejected' THEN seq END, ',') AS seqs
    FROM (SELECT grant_seq, seq, type, count FROM marked
          WHERE type = 'control.granted'
             OR (type = 'input.rejected' AND grant_seq IS NOT NULL
                 AND (release_seq IS NULL OR release_seq < grant_seq))
          ORDER BY seq)
    GROUP BY grant_seq
)
SELECT
    g.seq AS first_seq, g.stream AS session_stream,
    substr(g.stream, 9)                                    AS session,
    w.invitation                                           AS invitation,
    coalesce(w.person, CASE WHEN g.actor_kind = 'person' THEN g.actor_id END) AS person,
    w.helper                                               AS helper,
    w.helper_key                                           AS helper_key,
    g.occurred_at                                          AS at,
    r.occurred_at                                          AS released_at,
    json_extract(r.payload, '$.by')                        AS released_by,
    json_extract(r.payload, '$.via')                       AS released_via,
    (r.at_us - g.at_us) / 1000                             AS duration_ms,
    json_extract(r.payload, '$.inputs_injected')           AS inputs_injected,
    coalesce(f.inputs_rejected, 0)                         AS inputs_rejected,
    g.seq || coalesce(',' || r.seq, '') || coalesce(w.who_seqs, '')
         || coalesce(',' || f.seqs, '')                    AS seqs
FROM held f
JOIN moves g ON g.seq = f.grant_seq
LEFT JOIN moves r ON r.seq = g.next_seq AND r.type = 'control.released'
LEFT JOIN export_sessions w ON w.stream = g.stream;
SELECT session, invitation, person, helper, helper_key, at AS granted_at, released_at,
       released_by, released_via, duration_ms, inputs_injected, inputs_rejected, seqs
FROM export_kept ORDER BY first_seq;

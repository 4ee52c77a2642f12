-- Control: one row per grant of control, from the grant to its release.
-- session, invitation, person (who shares the screen: the invitation's
-- name, or who granted), helper and helper_key (the name it gave and the
-- fingerprint of the key it proved), granted_at, released_at (empty if the
-- log ends first), released_by (person, helper or system), released_via
-- (esc, button, command, disconnect, ...), duration_ms, inputs_injected
-- (input the person's side injected for the helper in this grant, as its
-- release counts it; empty if the release does not say: the log ends first,
-- or it was recorded by the helper's side or by an older ra), inputs_rejected
-- (input refused while in control, e.g. Esc, which is never injected;
-- input.rejected events are recorded counted), and seqs: the events the row
-- is read from (grant, release, authentication, invitation accepted,
-- invitation created, then each input.rejected).
-- Parameters (NULL for none): :size (read only the first :size events: the
-- export's checkpoint), :since, :until (granted at or after, before; UTC, as
-- 2026-11-25T10:00:00.000000Z), :session (session:<id>), :person, :helper
-- (a name or a key fingerprint). Read-only, e.g. with the sqlite3 shell:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read control.sql
WITH ev AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, actor_kind, actor_id, body
    FROM audit_log
    WHERE (:size IS NULL OR seq < :size)
      AND type IN ('control.granted', 'control.released', 'input.rejected',
                   'session.authenticated', 'invitation.accepted', 'invitation.created')
),
moves AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, actor_kind, actor_id, body,
           lead(seq) OVER (PARTITION BY stream ORDER BY seq) AS next_seq
    FROM ev
    WHERE type IN ('control.granted', 'control.released') AND substr(stream, 1, 8) = 'session:'
),
authenticated AS MATERIALIZED (
    SELECT seq, stream,
           json_extract(body, '$.payload.helper')      AS helper,
           json_extract(body, '$.payload.fingerprint') AS fingerprint
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
rejected AS MATERIALIZED (
    SELECT seq, stream, coalesce(json_extract(body, '$.payload.count'), 1) AS count
    FROM ev WHERE type = 'input.rejected'
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
),
grants AS MATERIALIZED (
    SELECT
        g.seq AS first_seq, g.stream AS stream,
        substr(g.stream, 9)                                    AS session,
        substr(acc.invitation, 12)                             AS invitation,
        coalesce(cr.name, CASE WHEN g.actor_kind = 'person' THEN g.actor_id END) AS person,
        au.helper                                              AS helper,
        au.fingerprint                                         AS helper_key,
        g.occurred_at                                          AS granted_at,
        r.occurred_at                                          AS released_at,
        json_extract(r.body, '$.payload.by')                   AS released_by,
        json_extract(r.body, '$.payload.via')                  AS released_via,
        CASE WHEN r.seq IS NOT NULL THEN
            (CAST(strftime('%s', r.occurred_at) AS INTEGER)
             - CAST(strftime('%s', g.occurred_at) AS INTEGER)) * 1000
            + (CAST(substr(r.occurred_at, 21, 6) AS INTEGER)
               - CAST(substr(g.occurred_at, 21, 6) AS INTEGER)) / 1000 END AS duration_ms,
        json_extract(r.body, '$.payload.inputs_injected')      AS inputs_injected,
        coalesce(f.inputs_rejected, 0)                         AS inputs_rejected,
        g.seq || coalesce(',' || r.seq, '') || coalesce(',' || au.seq, '')
             || coalesce(',' || acc.seq, '') || coalesce(',' || cr.seq, '')
             || coalesce(',' || f.seqs, '')                    AS seqs
    FROM held f
    JOIN moves g ON g.seq = f.grant_seq
    LEFT JOIN moves r ON r.seq = g.next_seq AND r.type = 'control.released'
    LEFT JOIN authenticated au ON au.stream = g.stream
    LEFT JOIN accepted acc ON acc.session = g.stream
    LEFT JOIN created cr ON cr.invitation = acc.invitation
)
SELECT session, invitation, person, helper, helper_key, granted_at, released_at,
       released_by, released_via, duration_ms, inputs_injected, inputs_rejected, seqs
FROM grants
WHERE (:since IS NULL OR granted_at >= :since)
  AND (:until IS NULL OR granted_at < :until)
  AND (:session IS NULL OR stream = :session)
  AND (:person IS NULL OR person = :person)
  AND (:helper IS NULL OR helper = :helper OR helper_key = :helper)
ORDER BY first_seq;

-- One line per session: who, when it started and ended, whether view and
-- control were granted, how much input was refused, and how it ended. The
-- helper is named as it was authenticated: the name it gave, the fingerprint of
-- the key it proved and the address it came from (the address only in the
-- person's log).
--   sqlite3 -readonly -header -csv ~/.local/share/ra/ra.db < session_timeline.sql
SELECT
    stream                                                        AS session,
    min(occurred_at)                                              AS started_at,
    max(occurred_at)                                              AS last_event_at,
    count(*)                                                      AS events,
    sum(type = 'consent.granted'
        AND json_extract(body, '$.payload.scope') = 'view')       AS view_grants,
    sum(type = 'control.granted')                                 AS control_grants,
    sum(type = 'control.released')                                AS control_releases,
    sum(CASE WHEN type = 'input.rejected'   -- recorded counted, at most one a second
             THEN coalesce(json_extract(body, '$.payload.count'), 1) ELSE 0 END)
                                                                  AS inputs_rejected,
    max(CASE WHEN type = 'session.disconnected'
             THEN json_extract(body, '$.payload.reason')
             WHEN type = 'consent.denied'
              AND json_extract(body, '$.payload.scope') = 'view'
             THEN 'view consent denied' END)                      AS ended_because,
    max(CASE WHEN type = 'session.authenticated'
             THEN json_extract(body, '$.payload.helper') END)     AS helper,
    max(CASE WHEN type = 'session.authenticated'
             THEN json_extract(body, '$.payload.fingerprint') END) AS helper_key,
    max(CASE WHEN type = 'session.authenticated'
             THEN json_extract(body, '$.payload.address') END)    AS helper_address
FROM audit_log
WHERE stream LIKE 'session:%'
GROUP BY stream
ORDER BY started_at;

-- Wrong passwords and lock-outs, per invitation and origin, with the tries refused
-- during the back-off (auth.throttled, recorded counted: at most one a second);
-- reasons says what failed: password, or identity (the right password, but a
-- signature that does not hold for the key the helper named).
--   sqlite3 -readonly -header -csv ~/.local/share/ra/ra.db < failed_authentications.sql
SELECT
    stream                                         AS invitation,
    origin,
    sum(type = 'auth.failed')                      AS failures,
    min(CASE WHEN type = 'auth.failed' THEN occurred_at END) AS first_failure,
    max(CASE WHEN type = 'auth.failed' THEN occurred_at END) AS last_failure,
    coalesce(sum(CASE WHEN type = 'auth.throttled'
                      THEN json_extract(body, '$.payload.count') END), 0)
                                                   AS refused_in_back_off,
    group_concat(DISTINCT CASE WHEN type = 'auth.failed'
                               THEN json_extract(body, '$.payload.reason') END) AS reasons
FROM audit_log
WHERE type IN ('auth.failed', 'auth.throttled')
GROUP BY stream, origin
ORDER BY last_failure;

-- Wrong passwords and lock-outs, per invitation and origin; reasons says
-- what failed: password, or identity (the right password, but a signature
-- that does not hold for the key the helper named).
--   sqlite3 -readonly -header -csv ~/.local/share/ra/ra.db < failed_authentications.sql
SELECT
    stream                                         AS invitation,
    origin,
    count(*)                                       AS failures,
    min(occurred_at)                               AS first_failure,
    max(occurred_at)                               AS last_failure,
    group_concat(DISTINCT json_extract(body, '$.payload.reason')) AS reasons
FROM audit_log
WHERE type = 'auth.failed'
GROUP BY stream, origin
ORDER BY last_failure;

-- Wrong passwords and lock-outs, per invitation and origin.
--   sqlite3 -readonly -header -csv ~/.local/share/ra/ra.db < failed_authentications.sql
SELECT
    stream                                         AS invitation,
    origin,
    count(*)                                       AS failures,
    min(occurred_at)                               AS first_failure,
    max(occurred_at)                               AS last_failure
FROM audit_log
WHERE type = 'auth.failed'
GROUP BY stream, origin
ORDER BY last_failure;

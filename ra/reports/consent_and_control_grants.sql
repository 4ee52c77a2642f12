-- Consent and control grants: every decision a person made about being
-- viewed or controlled, every release of control, and every session whose
-- screen could not be shown (view.unavailable: no view, no control), in order.
-- decided_by is the actor (a helper by the name it gave); decided_by_key the
-- fingerprint of the key it proved in the handshake (empty for the person).
-- Run against an ra database (RA_HOME/ra.db), read-only:
--   sqlite3 -readonly -header -csv ~/.local/share/ra/ra.db < consent_and_control_grants.sql
SELECT
    seq,
    occurred_at,
    stream                                   AS session,
    type                                     AS decision,
    outcome,
    actor_kind || ':' || actor_id            AS decided_by,
    origin,
    json_extract(body, '$.payload.scope')    AS scope,
    json_extract(body, '$.payload.reason')   AS reason,
    json_extract(body, '$.payload.via')      AS via,
    json_extract(body, '$.actor.key')        AS decided_by_key
FROM audit_log
WHERE type IN (
    'consent.requested', 'consent.granted', 'consent.denied',
    'control.requested', 'control.granted', 'control.denied', 'control.released',
    'view.unavailable'
)
ORDER BY seq;

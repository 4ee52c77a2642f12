-- Invitations: one row per invitation, from its creation to where it stands.
-- invitation, person (the name it was made by), created_at, expires_at,
-- sent_to (each delivery), opened_at, accepted_at and session (the session it
-- let in), status (its last step: created, sent, opened, accepted, expired,
-- revoked, deleted or locked), status_at, failed_passwords (auth.failed),
-- refused_in_back_off (tries refused while waiting after a failure), and
-- seqs: the events the row is read from (every event of the invitation).
-- It reads the tables shared.sql makes and keeps the rows its filters keep
-- (export_kept there: :since and :until are about created_at, :session is
-- the session it let in, :person its person, :helper a name or a key
-- fingerprint that tried it); run shared.sql first, with the parameters,
-- e.g. with the sqlite3 shell, read-only:
--   .parameter init
--   .parameter set :size NULL  (and likewise :since :until :session :person :helper)
--   .read shared.sql
--   .read invitations.sql
DROP TABLE IF EXISTS temp.export_rows;
CREATE TEMP TABLE export_rows AS
WITH ev AS MATERIALIZED (
    SELECT seq, stream, type, occurred_at, actor_id, actor_key, payload
    FROM export_events
    WHERE substr(stream, 1, 11) = 'invitation:'
      AND (substr(type, 1, 11) = 'invitation.' OR substr(type, 1, 5) = 'auth.')
),
steps AS MATERIALIZED (
    SELECT stream, max(seq) AS seq FROM ev
    WHERE substr(type, 1, 11) = 'invitation.' GROUP BY stream
),
invitations AS MATERIALIZED (
    SELECT
        c.*,  -- seq, stream, created_at, name and expires_at, as shared.sql reads them
        substr(c.stream, 12)                AS invitation,
        (SELECT group_concat(t, ' ') FROM (
            SELECT json_extract(payload, '$.to') AS t FROM ev
            WHERE stream = c.stream AND type = 'invitation.sent' ORDER BY seq))  AS sent_to,
        (SELECT min(occurred_at) FROM ev
         WHERE stream = c.stream AND type = 'invitation.opened')                AS opened_at,
        (SELECT min(occurred_at) FROM ev
         WHERE stream = c.stream AND type = 'invitation.accepted')              AS accepted_at,
        (SELECT 'session:' || json_extract(payload, '$.session_id') FROM ev
         WHERE stream = c.stream AND type = 'invitation.accepted'
         ORDER BY seq LIMIT 1)                                                  AS session_stream,
        substr(last.type, 12)               AS status,
        last.occurred_at                    AS status_at,
        (SELECT count(*) FROM ev WHERE stream = c.stream AND type = 'auth.failed')
                                            AS failed_passwords,
        (SELECT coalesce(sum(json_extract(payload, '$.count')), 0) FROM ev
         WHERE stream = c.stream AND type = 'auth.throttled')                  AS refused_in_back_off,
        (SELECT group_concat(seq, ',') FROM (
            SELECT seq FROM ev WHERE stream = c.stream ORDER BY seq))           AS seqs
    FROM export_invitations c
    JOIN steps s ON s.stream = c.stream
    JOIN ev last ON last.seq = s.seq
),
tried AS MATERIALIZED (  -- who tried each invitation: each name and key fingerprint
    SELECT DISTINCT stream, actor_id, actor_key FROM ev
    WHERE type = 'invitation.accepted' OR substr(type, 1, 5) = 'auth.'
)
SELECT i.*, i.seq AS first_seq, i.created_at AS at, i.name AS person,
       t.actor_id AS helper, t.actor_key AS helper_key  -- a row for each who tried it
FROM invitations i
LEFT JOIN tried t ON t.stream = i.stream;
SELECT invitation, person, created_at, expires_at, sent_to, opened_at, accepted_at,
       substr(session_stream, 9) AS session, status, status_at, failed_passwords,
       refused_in_back_off, seqs
FROM export_kept GROUP BY first_seq  -- one row an invitation
ORDER BY first_seq;

-- The latest signal of each id per resource, kept beside the full history so
-- reading a handle's metadata or a wait condition's state, and numbering a
-- signal without an id, cost the number of distinct ids (what Heat's
-- metadata dict holds), not the number of signals ever received.
CREATE TABLE signal_latest (
    stack_id      TEXT NOT NULL REFERENCES stacks (id),
    resource_name TEXT NOT NULL,
    signal_id     TEXT NOT NULL,
    first_seq     INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    data          TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (stack_id, resource_name, signal_id)
);

INSERT INTO signal_latest (stack_id, resource_name, signal_id, first_seq, seq, status, reason,
                           data, created_at)
SELECT s.stack_id, s.resource_name, s.signal_id, g.first_seq, s.seq, s.status, s.reason, s.data,
       s.created_at
FROM signals s
JOIN (SELECT stack_id, resource_name, signal_id, MIN(seq) AS first_seq, MAX(seq) AS last_seq
      FROM signals GROUP BY stack_id, resource_name, signal_id) g
  ON s.seq = g.last_seq;

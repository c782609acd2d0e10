-- A project's live stacks have distinct names (Heat's StackExists): two
-- concurrent creates of one name could both pass the check that precedes
-- the insert, so the database decides. A database written before this
-- migration may already hold such twins: every live stack but the oldest of
-- a name is renamed "<name>-<first 8 characters of its id>" first (nothing is
-- deleted; the stacks stay reachable by id).
UPDATE stacks
SET name = name || '-' || substr(id, 1, 8)
WHERE deleted_at IS NULL
  AND EXISTS (
      SELECT 1 FROM stacks AS older
      WHERE older.tenant = stacks.tenant
        AND older.name = stacks.name
        AND older.deleted_at IS NULL
        AND (older.created_at < stacks.created_at
             OR (older.created_at = stacks.created_at AND older.id < stacks.id))
  );

CREATE UNIQUE INDEX stacks_live_name ON stacks (tenant, name) WHERE deleted_at IS NULL;

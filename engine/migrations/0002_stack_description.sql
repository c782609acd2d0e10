-- The template's description, kept at create so listing stacks does not parse
-- every template.
ALTER TABLE stacks ADD COLUMN description TEXT;

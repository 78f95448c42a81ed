-- The estimate's line items (role, model, units, unit price, amount), as JSON.
ALTER TABLE generated_videos ADD COLUMN cost_items TEXT NOT NULL DEFAULT '[]';

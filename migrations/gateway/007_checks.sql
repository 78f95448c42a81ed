-- Preflight checks (issue #16): the storyboard's latest preflight report, and the override
-- when a storyboard with errors was approved anyway (who, why, when, which checks), both
-- JSON. QC reports live in each output of `outputs`.
ALTER TABLE generated_videos ADD COLUMN preflight TEXT;
ALTER TABLE generated_videos ADD COLUMN preflight_override TEXT;

-- Finished videos of a job (rendered variations and exports), as JSON.
ALTER TABLE generated_videos ADD COLUMN outputs TEXT NOT NULL DEFAULT '[]';

-- Seed 003 lists "drug abuse" (not "drugs") among the goods cross-border pay does not
-- cover. The preloaded row takes the source's words; an operator's changes to it (its
-- audit rows, whether it is restricted) stay with it.
INSERT INTO restricted_categories (category_code, display_name, restricted, reason, created_at, updated_at)
SELECT 'drug_abuse', 'Drug abuse (吸毒)', restricted, reason, created_at, now()
FROM restricted_categories WHERE category_code = 'drugs'
ON CONFLICT (category_code) DO NOTHING;
UPDATE restricted_category_changes SET category_code = 'drug_abuse' WHERE category_code = 'drugs';
DELETE FROM restricted_categories WHERE category_code = 'drugs';

DROP TABLE model_villages;
DROP TABLE fraud_cases;
DROP TABLE campaign_versions;

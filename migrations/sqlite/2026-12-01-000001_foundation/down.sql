DROP TABLE audit_log;
DROP TABLE devices;
DROP TABLE refresh_tokens;
DROP TABLE role_assignments;
DROP TABLE users;
DROP TABLE areas;

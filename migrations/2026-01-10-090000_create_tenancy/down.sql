DROP TABLE tags;
DROP TABLE api_keys;
DROP TABLE user_account_roles;
DROP TABLE users;
DROP TABLE engagements;
DROP TABLE client_accounts;
DROP TYPE access_level;
DROP TYPE user_role;

-- The university's login (LDAP or CAS): a person who has signed in through it once no longer
-- needs a password of their own (first-login setup asks only for the phone), and the roster's
-- initial password stops opening the account (docs/login.md).
ALTER TABLE people ADD COLUMN directory_login INTEGER NOT NULL DEFAULT 0;

DROP TABLE sessions, user_roles, roles, users, organizations;

CREATE TABLE notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id int NOT NULL,
    title text NOT NULL
);

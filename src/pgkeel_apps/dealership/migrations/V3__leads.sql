-- Leads (seed 003): contact submissions with a lead score and a status workflow, internal
-- notes and an activity timeline. Tenant-led like the car tables.

CREATE TABLE contact_submissions (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    car_id          uuid,
    name            text NOT NULL CONSTRAINT contact_submissions_name_length CHECK (length(name) BETWEEN 1 AND 200),
    email           text NOT NULL CONSTRAINT contact_submissions_email_format
                    CHECK (email = lower(email) AND length(email) <= 254 AND email LIKE '%_@_%'),
    phone           text CONSTRAINT contact_submissions_phone_format CHECK (phone ~ '^\+?[0-9 ()-]{6,30}$'),
    message         text NOT NULL CONSTRAINT contact_submissions_message_length CHECK (length(message) BETWEEN 1 AND 5000),
    source          text NOT NULL DEFAULT 'WEBSITE'
                    CONSTRAINT contact_submissions_source_valid CHECK (source IN ('WEBSITE', 'PHONE',
                        'EMAIL', 'WALK_IN', 'REFERRAL', 'SOCIAL')),
    lead_score      integer NOT NULL DEFAULT 0
                    CONSTRAINT contact_submissions_lead_score_range CHECK (lead_score BETWEEN 0 AND 100),
    status          text NOT NULL DEFAULT 'NEW'
                    CONSTRAINT contact_submissions_status_valid CHECK (status IN ('NEW', 'CONTACTED',
                        'QUALIFIED', 'PROPOSAL', 'NEGOTIATION', 'WON', 'LOST', 'SPAM')),
    assigned_to     uuid,
    ip_address      text CONSTRAINT contact_submissions_ip_address_valid
                    CHECK (length(ip_address) <= 45 AND ip_address::inet IS NOT NULL),
    user_agent      text CONSTRAINT contact_submissions_user_agent_length CHECK (length(user_agent) <= 500),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT contact_submissions_car_fk FOREIGN KEY (organization_id, car_id)
        REFERENCES cars (organization_id, id),
    CONSTRAINT contact_submissions_assignee_fk FOREIGN KEY (organization_id, assigned_to)
        REFERENCES identity.users (organization_id, id)
);

-- The report's indexes, tenant-led.
CREATE INDEX idx_contacts_email ON contact_submissions (organization_id, email);
CREATE INDEX idx_contacts_status ON contact_submissions (organization_id, status, created_at DESC);
CREATE INDEX idx_contacts_lead_score ON contact_submissions (organization_id, lead_score DESC, id);
CREATE INDEX idx_contacts_created_at ON contact_submissions (organization_id, created_at DESC, id);
CREATE INDEX idx_contacts_car_id ON contact_submissions (organization_id, car_id)
    WHERE car_id IS NOT NULL;
CREATE INDEX idx_contacts_assigned_to ON contact_submissions (organization_id, assigned_to)
    WHERE assigned_to IS NOT NULL;

-- The lead score, 0 to 100, set on insert:
--   +25 a car is linked (an inquiry about a listing, not a general question)
--   +20 a phone number is given
--   +1 per 20 characters of message, at most +20
--   source: REFERRAL +20, WALK_IN +15, PHONE +15, WEBSITE +10, EMAIL +10, SOCIAL +5
--   +15 a repeat visitor: an earlier submission with the same email in this organization
CREATE FUNCTION lead_score(p_org uuid, p_email text, p_car_id uuid, p_phone text,
                           p_message text, p_source text) RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT least(100,
        CASE WHEN p_car_id IS NOT NULL THEN 25 ELSE 0 END
        + CASE WHEN coalesce(btrim(p_phone), '') <> '' THEN 20 ELSE 0 END
        + least(20, coalesce(length(btrim(p_message)), 0) / 20)
        + CASE p_source WHEN 'REFERRAL' THEN 20 WHEN 'WALK_IN' THEN 15 WHEN 'PHONE' THEN 15
                        WHEN 'WEBSITE' THEN 10 WHEN 'EMAIL' THEN 10 WHEN 'SOCIAL' THEN 5
                        ELSE 0 END
        + CASE WHEN EXISTS (SELECT FROM dealership.contact_submissions AS s
                            WHERE s.organization_id = p_org AND s.email = p_email)
               THEN 15 ELSE 0 END)
$$;

CREATE FUNCTION contact_submissions_score() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.lead_score := dealership.lead_score(NEW.organization_id, NEW.email, NEW.car_id,
                                            NEW.phone, NEW.message, NEW.source);
    RETURN NEW;
END
$$;
CREATE TRIGGER contact_submissions_score BEFORE INSERT ON contact_submissions
    FOR EACH ROW EXECUTE FUNCTION contact_submissions_score();

-- The status workflow: the statuses a lead may move to from each status. Enforced by a
-- trigger, so no path (the API, a script, bulk SQL) can make an illegal move.
CREATE FUNCTION lead_next_statuses(p_status text) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_status
        WHEN 'NEW'         THEN ARRAY['CONTACTED', 'QUALIFIED', 'LOST', 'SPAM']
        WHEN 'CONTACTED'   THEN ARRAY['QUALIFIED', 'LOST', 'SPAM']
        WHEN 'QUALIFIED'   THEN ARRAY['PROPOSAL', 'LOST']
        WHEN 'PROPOSAL'    THEN ARRAY['NEGOTIATION', 'WON', 'LOST']
        WHEN 'NEGOTIATION' THEN ARRAY['WON', 'LOST']
        WHEN 'LOST'        THEN ARRAY['NEW']
        WHEN 'SPAM'        THEN ARRAY['NEW']
        ELSE ARRAY[]::text[] END
$$;

CREATE FUNCTION contact_submissions_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NOT NEW.status = ANY(dealership.lead_next_statuses(OLD.status)) THEN
        RAISE EXCEPTION 'A lead cannot move from % to %.', OLD.status, NEW.status
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'contact_submissions_status_transition';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER contact_submissions_transition BEFORE UPDATE OF status ON contact_submissions
    FOR EACH ROW EXECUTE FUNCTION contact_submissions_transition();

CREATE TABLE contact_notes (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    contact_id      uuid NOT NULL,
    author_id       uuid NOT NULL,
    body            text NOT NULL CONSTRAINT contact_notes_body_length CHECK (length(body) BETWEEN 1 AND 5000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT contact_notes_contact_fk FOREIGN KEY (organization_id, contact_id)
        REFERENCES contact_submissions (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT contact_notes_author_fk FOREIGN KEY (organization_id, author_id)
        REFERENCES identity.users (organization_id, id)
);
CREATE INDEX idx_contact_notes_contact ON contact_notes (organization_id, contact_id, created_at);

CREATE TABLE contact_activities (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    contact_id      uuid NOT NULL,
    type            text NOT NULL
                    CONSTRAINT contact_activities_type_valid CHECK (type IN ('SUBMITTED', 'EMAIL',
                        'CALL', 'MEETING', 'TEST_DRIVE', 'NOTE', 'STATUS_CHANGE', 'ASSIGNMENT')),
    actor_id        uuid,
    description     text CONSTRAINT contact_activities_description_length CHECK (length(description) <= 2000),
    metadata        jsonb NOT NULL DEFAULT '{}'
                    CONSTRAINT contact_activities_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT contact_activities_contact_fk FOREIGN KEY (organization_id, contact_id)
        REFERENCES contact_submissions (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT contact_activities_actor_fk FOREIGN KEY (organization_id, actor_id)
        REFERENCES identity.users (organization_id, id)
);
CREATE INDEX idx_contact_activities_contact ON contact_activities (organization_id, contact_id, created_at);

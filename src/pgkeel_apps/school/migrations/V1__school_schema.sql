-- The school analytics app (seed 004): a school is an organization, a student is an identity
-- user of it. Every table is tenant-led: organization_id leads each primary key and unique
-- constraint, and every reference between tables includes it, so a row can never point into
-- another school and the tables can be distributed by organization.
CREATE TABLE students (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL,
    student_number  text NOT NULL
                    CONSTRAINT students_number_format CHECK (student_number ~ '^[A-Za-z0-9-]{1,32}$'),
    grade_level     smallint NOT NULL
                    CONSTRAINT students_grade_level_range CHECK (grade_level BETWEEN 1 AND 13),
    status          text NOT NULL DEFAULT 'active'
                    CONSTRAINT students_status_valid
                    CHECK (status IN ('active', 'enrolled', 'graduated', 'withdrawn')),
    enrolled_on     date NOT NULL DEFAULT current_date,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT students_number_key UNIQUE (organization_id, student_number),
    CONSTRAINT students_user_fk FOREIGN KEY (organization_id, id)
        REFERENCES identity.users (organization_id, id)
);

CREATE TABLE courses (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    code            text NOT NULL
                    CONSTRAINT courses_code_format CHECK (code ~ '^[A-Za-z0-9-]{1,32}$'),
    name            text NOT NULL
                    CONSTRAINT courses_name_length CHECK (length(name) BETWEEN 1 AND 200),
    teacher_id      uuid,
    term_start      date NOT NULL,
    term_end        date NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT courses_code_key UNIQUE (organization_id, code),
    CONSTRAINT courses_term_order CHECK (term_end >= term_start),
    CONSTRAINT courses_teacher_fk FOREIGN KEY (organization_id, teacher_id)
        REFERENCES identity.users (organization_id, id)
);

CREATE TABLE enrollments (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    student_id      uuid NOT NULL,
    course_id       uuid NOT NULL,
    status          text NOT NULL DEFAULT 'active'
                    CONSTRAINT enrollments_status_valid
                    CHECK (status IN ('active', 'dropped', 'completed')),
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT enrollments_student_course_key UNIQUE (organization_id, student_id, course_id),
    CONSTRAINT enrollments_student_fk FOREIGN KEY (organization_id, student_id)
        REFERENCES students (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT enrollments_course_fk FOREIGN KEY (organization_id, course_id)
        REFERENCES courses (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE class_sessions (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    course_id       uuid NOT NULL,
    session_date    date NOT NULL,
    period          smallint NOT NULL DEFAULT 1
                    CONSTRAINT class_sessions_period_range CHECK (period BETWEEN 1 AND 12),
    topic           text CONSTRAINT class_sessions_topic_length CHECK (length(topic) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT class_sessions_course_date_key UNIQUE (organization_id, course_id, session_date, period),
    CONSTRAINT class_sessions_course_fk FOREIGN KEY (organization_id, course_id)
        REFERENCES courses (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE attendances (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    session_id      uuid NOT NULL,
    student_id      uuid NOT NULL,
    status          text NOT NULL
                    CONSTRAINT attendances_status_valid
                    CHECK (status IN ('present', 'late', 'absent', 'excused')),
    note            text CONSTRAINT attendances_note_length CHECK (length(note) <= 500),
    recorded_by     uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT attendances_session_student_key UNIQUE (organization_id, session_id, student_id),
    CONSTRAINT attendances_session_fk FOREIGN KEY (organization_id, session_id)
        REFERENCES class_sessions (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT attendances_student_fk FOREIGN KEY (organization_id, student_id)
        REFERENCES students (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE parsed_student_feedback (
    organization_id uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    student_id      uuid NOT NULL,
    course_id       uuid,
    source          text NOT NULL DEFAULT 'survey'
                    CONSTRAINT feedback_source_valid
                    CHECK (source IN ('survey', 'teacher_note', 'import')),
    raw_text        text NOT NULL
                    CONSTRAINT feedback_raw_text_length CHECK (length(raw_text) BETWEEN 1 AND 4000),
    score           numeric(3, 2) NOT NULL
                    CONSTRAINT feedback_score_range CHECK (score BETWEEN 1 AND 5),
    sentiment       text NOT NULL
                    CONSTRAINT feedback_sentiment_valid
                    CHECK (sentiment IN ('positive', 'neutral', 'negative')),
    parsed_at       timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT feedback_student_fk FOREIGN KEY (organization_id, student_id)
        REFERENCES students (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT feedback_course_fk FOREIGN KEY (organization_id, course_id)
        REFERENCES courses (organization_id, id) ON DELETE CASCADE
);

-- The payment service (e-commerce report, V3): payments through authorize -> capture ->
-- settle, with refunds and disputes; stored payment methods are provider tokens, never card
-- numbers. Orders live in the order service's schema: payments name them by
-- (organization_id, order_id), without a cross-service foreign key.
CREATE TABLE payment_methods (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL,
    method_type     text NOT NULL DEFAULT 'card'
                    CONSTRAINT payment_methods_type CHECK (method_type IN ('card', 'bank_account', 'wallet')),
    provider        text NOT NULL CONSTRAINT payment_methods_provider_length CHECK (length(provider) <= 50),
    token           text NOT NULL CONSTRAINT payment_methods_token_length CHECK (length(token) BETWEEN 4 AND 200),
    brand           text CONSTRAINT payment_methods_brand_length CHECK (length(brand) <= 30),
    last4           text CONSTRAINT payment_methods_last4 CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month       smallint CONSTRAINT payment_methods_exp_month CHECK (exp_month BETWEEN 1 AND 12),
    exp_year        smallint CONSTRAINT payment_methods_exp_year CHECK (exp_year BETWEEN 2000 AND 2100),
    is_default      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT payment_methods_token_key UNIQUE (organization_id, provider, token),
    CONSTRAINT payment_methods_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES identity.users (organization_id, id),
    -- A token is the provider's reference; something shaped like a card number (13-19 digits,
    -- maybe spaced) is refused, so a PAN can never be stored here by mistake.
    CONSTRAINT payment_methods_token_not_pan
        CHECK (regexp_replace(token, '[ -]', '', 'g') !~ '^[0-9]{13,19}$')
);

CREATE TABLE payments (
    organization_id    uuid NOT NULL REFERENCES identity.organizations (id),
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id           uuid NOT NULL,
    user_id            uuid NOT NULL,
    payment_method_id  uuid,
    amount             numeric(12,2) NOT NULL CONSTRAINT payments_amount CHECK (amount > 0),
    currency           text NOT NULL DEFAULT 'USD'
                       CONSTRAINT payments_currency CHECK (currency ~ '^[A-Z]{3}$'),
    status             text NOT NULL DEFAULT 'pending'
                       CONSTRAINT payments_status CHECK (status IN (
                           'pending', 'authorized', 'captured', 'settled', 'partially_refunded',
                           'refunded', 'disputed', 'charged_back', 'voided', 'failed', 'expired')),
    captured_amount    numeric(12,2) NOT NULL DEFAULT 0,
    refunded_amount    numeric(12,2) NOT NULL DEFAULT 0,
    provider           text NOT NULL,
    provider_reference text,
    failure_code       text CONSTRAINT payments_failure_code_length CHECK (length(failure_code) <= 100),
    expires_at         timestamptz NOT NULL DEFAULT now() + interval '15 minutes',
    authorized_at      timestamptz,
    captured_at        timestamptz,
    settled_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT payments_user_fk FOREIGN KEY (organization_id, user_id)
        REFERENCES identity.users (organization_id, id),
    CONSTRAINT payments_method_fk FOREIGN KEY (organization_id, payment_method_id)
        REFERENCES payment_methods (organization_id, id),
    CONSTRAINT payment_capture_within_authorized
        CHECK (captured_amount >= 0 AND captured_amount <= amount),
    CONSTRAINT refund_exceeds_captured
        CHECK (refunded_amount >= 0 AND refunded_amount <= captured_amount)
);
CREATE INDEX payments_order_idx ON payments (organization_id, order_id);
CREATE INDEX payments_user_created_idx ON payments (organization_id, user_id, created_at);
CREATE INDEX payments_created_idx ON payments (organization_id, created_at);
CREATE INDEX payments_open_expiry_idx ON payments (expires_at) WHERE status IN ('pending', 'authorized');
-- One live payment per order: a second authorization attempt waits for the first to fail.
CREATE UNIQUE INDEX payments_one_live_per_order ON payments (organization_id, order_id)
    WHERE status NOT IN ('failed', 'expired', 'voided');

CREATE TABLE payment_transactions (
    organization_id    uuid NOT NULL REFERENCES identity.organizations (id),
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    payment_id         uuid NOT NULL,
    kind               text NOT NULL CONSTRAINT payment_transactions_kind CHECK (kind IN (
                           'authorize', 'capture', 'settle', 'refund', 'void', 'dispute',
                           'dispute_won', 'dispute_lost', 'decline', 'timeout', 'expire')),
    amount             numeric(12,2) NOT NULL DEFAULT 0,
    from_status        text,
    to_status          text NOT NULL,
    provider_reference text,
    error_code         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT payment_transactions_payment_fk FOREIGN KEY (organization_id, payment_id)
        REFERENCES payments (organization_id, id)
);
CREATE INDEX payment_transactions_payment_idx ON payment_transactions (organization_id, payment_id, id);

CREATE TABLE refunds (
    organization_id    uuid NOT NULL REFERENCES identity.organizations (id),
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    payment_id         uuid NOT NULL,
    amount             numeric(12,2) NOT NULL CONSTRAINT refunds_amount CHECK (amount > 0),
    reason             text NOT NULL CONSTRAINT refunds_reason CHECK (reason IN (
                           'requested_by_customer', 'duplicate', 'fraudulent', 'order_cancelled',
                           'other')),
    status             text NOT NULL DEFAULT 'succeeded'
                       CONSTRAINT refunds_status CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_reference text,
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT refunds_payment_fk FOREIGN KEY (organization_id, payment_id)
        REFERENCES payments (organization_id, id)
);
CREATE INDEX refunds_payment_idx ON refunds (organization_id, payment_id);

CREATE TABLE payment_disputes (
    organization_id uuid NOT NULL REFERENCES identity.organizations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    payment_id      uuid NOT NULL,
    amount          numeric(12,2) NOT NULL CONSTRAINT payment_disputes_amount CHECK (amount > 0),
    reason          text NOT NULL CONSTRAINT payment_disputes_reason CHECK (reason IN (
                        'fraudulent', 'product_not_received', 'not_as_described', 'duplicate',
                        'other')),
    status          text NOT NULL DEFAULT 'open'
                    CONSTRAINT payment_disputes_status CHECK (status IN ('open', 'won', 'lost')),
    evidence        jsonb NOT NULL DEFAULT '{}'
                    CONSTRAINT payment_disputes_evidence_object CHECK (jsonb_typeof(evidence) = 'object'),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT payment_disputes_payment_fk FOREIGN KEY (organization_id, payment_id)
        REFERENCES payments (organization_id, id)
);
-- One open dispute per payment.
CREATE UNIQUE INDEX payment_disputes_open_key ON payment_disputes (organization_id, payment_id)
    WHERE status = 'open';

CREATE TABLE payment_analytics (
    organization_id   uuid NOT NULL REFERENCES identity.organizations (id),
    day               date NOT NULL,
    authorized_count  integer NOT NULL DEFAULT 0,
    authorized_amount numeric(14,2) NOT NULL DEFAULT 0,
    captured_amount   numeric(14,2) NOT NULL DEFAULT 0,
    refunded_amount   numeric(14,2) NOT NULL DEFAULT 0,
    declined_count    integer NOT NULL DEFAULT 0,
    disputed_count    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day)
);

DROP TABLE payment_analytics, payment_disputes, refunds, payment_transactions, payments, payment_methods;

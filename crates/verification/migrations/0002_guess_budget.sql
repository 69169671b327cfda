-- Guessing budgets that need no IP address (src/budget.rs, docs/security.md): one row per kind of guess
-- ('teletan', 'tan') for the current fixed window. `leased` counts the window's units handed out to the
-- service's copies; a copy leases a unit before a check when it holds none, a failed check spends its unit
-- and a successful one gives it back to that copy, so no window sees more failed checks than its budget.
-- `alerted_window` is the window whose exhaustion was logged, so the alert appears once over all copies.
CREATE TABLE guess_budget (
    kind           TEXT   NOT NULL PRIMARY KEY,
    window_start   BIGINT NOT NULL,
    leased         BIGINT NOT NULL,
    alerted_window BIGINT NOT NULL
);

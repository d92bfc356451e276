//! Printing plans and apply results, as text for people and JSON for scripts.

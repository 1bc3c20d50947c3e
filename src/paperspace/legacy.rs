//! The legacy API client (work in progress).

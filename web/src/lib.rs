//! warroom-web renders the live war room: typed askama view models, their templates and the vendored
//! static assets (htmx 2 with the SSE extension). This crate starts empty: it is filled by the war-room
//! page issues.
//!
//! Modules (planned, see `DESIGN.md`):
//! - `views`: one view model per page and per htmx fragment.
//! - `assets`: vendored htmx and its license, served with their sha256.

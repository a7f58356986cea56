//! Template renderers: pystache-compatible mustache, and tera.

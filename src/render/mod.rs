//! Template renderers: pystache-compatible mustache (the os-apply-config default), and tera
//! for templates whose name ends in `.tera`.

pub mod mustache;
pub mod tera;

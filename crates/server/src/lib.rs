//! The Dialpad connector HTTP server (being built).

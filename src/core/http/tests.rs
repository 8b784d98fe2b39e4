//! The HTTP transports as data: sessions, exchanges, streams and the headers of each era.

//! RFC 7983 demultiplexing.

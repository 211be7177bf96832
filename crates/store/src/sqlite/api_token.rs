//! API tokens: the statements and the implementation are shared with PostgreSQL
//! ([`crate::sql::api_token`]); tokens are written through the single writer, read through the readers.

crate::sql::api_token::api_token_store!(super::SqliteStore, reader: reader, writer: writer);

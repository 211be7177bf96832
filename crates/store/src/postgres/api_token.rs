//! API tokens: the statements and the implementation are shared with SQLite
//! ([`crate::sql::api_token`]); one pool for reads and writes.

crate::sql::api_token::api_token_store!(super::PostgresStore, reader: pool, writer: pool);

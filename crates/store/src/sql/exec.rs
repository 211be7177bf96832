//! Statements and how they run: the only code here that is generic over sqlx's [`Database`].
//!
//! A [`Stmt`] is SQL text with `$n` parameters (both dialects accept them) and its arguments, held as
//! plain values ([`Arg`]) rather than bound to a driver's argument buffer, so that the query layer
//! builds statements without naming a backend. Rows come back as the small set of column types the
//! schema uses (text and 64-bit integers, each possibly NULL) through [`FromRow`].
//!
//! [`Dialect`] is implemented once, for every sqlx database that can run such statements (SQLite and
//! PostgreSQL), with the sqlx trait bounds stated in that one place; everything else needs only
//! `DB: Dialect`.

use std::future::Future;
use std::pin::Pin;

use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Transaction, Type,
};

/// A boxed, sendable future, as [`Dialect::fetch`] returns.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A value bound to a statement's parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(i64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(Some(s.to_string()))
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Text(Some(s.clone()))
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(Some(s))
    }
}

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Arg {
        Arg::Text(s)
    }
}

impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Arg {
        Arg::Text(s.map(str::to_string))
    }
}

impl From<i64> for Arg {
    fn from(i: i64) -> Arg {
        Arg::Int(i)
    }
}

/// SQL text with `$1..$n` parameters and their arguments, in order.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    sql: String,
    args: Vec<Arg>,
}

/// Where a statement runs: a pool (a connection of it, for this one statement) or an open
/// transaction.
pub(crate) enum On<'a, DB: Database> {
    Pool(&'a Pool<DB>),
    Conn(&'a mut DB::Connection),
}

impl<'a, DB: Database> From<&'a Pool<DB>> for On<'a, DB> {
    fn from(p: &'a Pool<DB>) -> Self {
        On::Pool(p)
    }
}

impl<'a, 't, DB: Database> From<&'a mut Transaction<'t, DB>> for On<'a, DB> {
    fn from(tx: &'a mut Transaction<'t, DB>) -> Self {
        On::Conn(&mut **tx)
    }
}

impl Stmt {
    pub(crate) fn new(sql: impl Into<String>) -> Stmt {
        Stmt {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// Binds the next parameter (`$1` first).
    pub(crate) fn bind(mut self, v: impl Into<Arg>) -> Stmt {
        self.args.push(v.into());
        self
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Stmt {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next parameter's placeholder (`$n`) and binds it.
    pub(crate) fn push_bind(&mut self, v: impl Into<Arg>) -> &mut Stmt {
        self.args.push(v.into());
        let n = self.args.len();
        self.sql.push_str(&format!("${n}"));
        self
    }

    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// How many parameters are bound.
    pub(crate) fn arg_count(&self) -> usize {
        self.args.len()
    }

    /// The same arguments with the SQL text rewritten (e.g. wrapped in a CTE).
    pub(crate) fn map_sql(mut self, f: impl FnOnce(&str) -> String) -> Stmt {
        self.sql = f(&self.sql);
        self
    }

    /// Every row.
    pub(crate) async fn fetch_all<'a, DB: Dialect, T: FromRow + Send + 'a>(
        self,
        on: impl Into<On<'a, DB>>,
    ) -> sqlx::Result<Vec<T>> {
        DB::fetch(on.into(), self).await
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional<'a, DB: Dialect, T: FromRow + Send + 'a>(
        self,
        on: impl Into<On<'a, DB>>,
    ) -> sqlx::Result<Option<T>> {
        Ok(self.fetch_all(on).await?.into_iter().next())
    }

    /// The first row; [`sqlx::Error::RowNotFound`] when there is none.
    pub(crate) async fn fetch_one<'a, DB: Dialect, T: FromRow + Send + 'a>(
        self,
        on: impl Into<On<'a, DB>>,
    ) -> sqlx::Result<T> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs the statement; the number of rows it returned (with `RETURNING`, the rows it wrote).
    pub(crate) async fn run<'a, DB: Dialect>(
        self,
        on: impl Into<On<'a, DB>>,
    ) -> sqlx::Result<usize> {
        Ok(self.fetch_all::<DB, ()>(on).await?.len())
    }
}

/// The columns of one row, by position.
pub(crate) trait Columns {
    fn text(&self, i: usize) -> sqlx::Result<Option<String>>;
    fn int(&self, i: usize) -> sqlx::Result<Option<i64>>;
}

impl<R> Columns for R
where
    R: sqlx::Row,
    usize: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, i: usize) -> sqlx::Result<Option<String>> {
        self.try_get(i)
    }

    fn int(&self, i: usize) -> sqlx::Result<Option<i64>> {
        self.try_get(i)
    }
}

/// One column's value.
pub(crate) trait Column: Sized {
    fn get(row: &dyn Columns, i: usize) -> sqlx::Result<Self>;
}

fn unexpected_null(i: usize) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: i.to_string(),
        source: "unexpected NULL".into(),
    }
}

impl Column for Option<String> {
    fn get(row: &dyn Columns, i: usize) -> sqlx::Result<Self> {
        row.text(i)
    }
}

impl Column for String {
    fn get(row: &dyn Columns, i: usize) -> sqlx::Result<Self> {
        row.text(i)?.ok_or_else(|| unexpected_null(i))
    }
}

impl Column for Option<i64> {
    fn get(row: &dyn Columns, i: usize) -> sqlx::Result<Self> {
        row.int(i)
    }
}

impl Column for i64 {
    fn get(row: &dyn Columns, i: usize) -> sqlx::Result<Self> {
        row.int(i)?.ok_or_else(|| unexpected_null(i))
    }
}

/// A whole row: nothing (`()`, for counting rows), one column, or a tuple of columns.
pub(crate) trait FromRow: Sized {
    fn from_row(row: &dyn Columns) -> sqlx::Result<Self>;
}

impl FromRow for () {
    fn from_row(_: &dyn Columns) -> sqlx::Result<Self> {
        Ok(())
    }
}

impl<C: Column> FromRow for C {
    fn from_row(row: &dyn Columns) -> sqlx::Result<Self> {
        C::get(row, 0)
    }
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Column),+> FromRow for ($($t,)+) {
            fn from_row(row: &dyn Columns) -> sqlx::Result<Self> {
                Ok(($($t::get(row, $i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);

/// A database that runs [`Stmt`]s: SQLite and PostgreSQL.
pub(crate) trait Dialect: Database {
    fn fetch<'a, T: FromRow + Send + 'a>(
        on: On<'a, Self>,
        stmt: Stmt,
    ) -> BoxFuture<'a, sqlx::Result<Vec<T>>>;
}

impl<DB> Dialect for DB
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    DB::Row: Columns,
{
    fn fetch<'a, T: FromRow + Send + 'a>(
        on: On<'a, Self>,
        stmt: Stmt,
    ) -> BoxFuture<'a, sqlx::Result<Vec<T>>> {
        Box::pin(async move {
            let Stmt { sql, args } = stmt;
            let mut q = sqlx::query::<DB>(&sql);
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind(s),
                    Arg::Int(i) => q.bind(i),
                };
            }
            let rows = match on {
                On::Pool(p) => q.fetch_all(p).await?,
                On::Conn(c) => q.fetch_all(c).await?,
            };
            rows.iter().map(|r| T::from_row(r)).collect()
        })
    }
}

//! Reading the application's own tables outside any write transaction.

use crate::facade::runtime::Herald;
use crate::outcome::error::{Error, ErrorKind};
use crate::store::Reader;

impl Herald {
    /// A connection for reading the application's own tables: see [`Reader`].
    pub async fn reader(&self) -> Result<Reader, Error> {
        let reader = self
            .store()
            .reader()
            .await
            .map_err(|source| ErrorKind::Store {
                context: "getting a connection to read from".into(),
                source,
            })?;
        Ok(Reader::new(reader))
    }
}

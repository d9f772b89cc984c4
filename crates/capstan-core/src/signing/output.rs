//! Output files that appear only when complete: written to a temporary file beside the target,
//! renamed over it on success, removed on any failure.

use std::fs::File;
use std::io;
use std::path::Path;

use tempfile::NamedTempFile;

/// A file being written for `out`; dropped without [`keep`](Output::keep), it disappears.
pub(crate) struct Output(NamedTempFile);

impl Output {
    /// Starts a temporary file in the folder of `out` (so the final rename stays on one disk).
    pub(crate) fn create(out: &Path) -> io::Result<Output> {
        let folder = out.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
        tempfile::Builder::new().prefix(".capstan-").suffix(".tmp").tempfile_in(folder).map(Output)
    }

    /// The file to write to.
    pub(crate) fn file(&self) -> &File {
        self.0.as_file()
    }

    /// Moves the finished file to `out`, replacing what was there.
    pub(crate) fn keep(self, out: &Path) -> io::Result<()> {
        self.0.persist(out).map(drop).map_err(|error| error.error)
    }
}

pub use ctssl_io as io;

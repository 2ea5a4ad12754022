//! # ctssl
//!
//! Self-supervised pre-training of convolutional networks on CT images. This facade re-exports the
//! workspace's crates so an application can depend on one package; each crate can also be used alone.
//!
//! ```no_run
//! let image = ctssl::io::read_image("slice.dcm")?;
//! println!("{} HU values", image.values.len());
//! # Ok::<(), ctssl::io::IoError>(())
//! ```

pub use ctssl_augment as augment;
pub use ctssl_backbones as backbones;
pub use ctssl_contrastive as contrastive;
pub use ctssl_io as io;
pub use ctssl_kernels as kernels;
pub use ctssl_phantom as phantom;
pub use ctssl_sparse as sparse;
pub use ctssl_study as study;
pub use ctssl_train as train;
pub mod pipeline;

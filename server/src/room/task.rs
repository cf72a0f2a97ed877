//! The room driver.

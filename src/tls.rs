//! The one TLS crypto provider (ring) that reqwest and lettre share.

/// Installs ring as the process-wide rustls provider. rustls cannot pick one itself when it
/// is built without its default provider, so this runs before any TLS client is built;
/// calling it again is harmless.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

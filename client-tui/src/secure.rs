//! Before full screen: how the connection will be protected. The user's
//! identity is read (made on first run), and the key the server must
//! present is settled the way ssh settles a host key: the room hosted here
//! is trusted as it is; a server met before must present the key pinned
//! for it; a server met for the first time shows its key's fingerprint and
//! the user is asked once (`--trust-new` answers yes for scripts). A
//! server whose key changed is refused here, before anything is sent to
//! it, with both fingerprints and the way to accept the new key on
//! purpose.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lanchat_shared::Fingerprint;
use lanchat_shared::keyfile::{self, KeyFile, Origin};
use lanchat_shared::tls;

use crate::cli::Args;
use crate::config::xdg_dir;
use crate::dial::{Security, Trusted};
use crate::launch::{Choice, ask};
use crate::trust::{KnownServers, Verdict, key_changed_warning};

/// How long the first look at a server's key may take.
const FIRST_LOOK: Duration = Duration::from_secs(10);

/// The identity file when `--identity` does not name one:
/// `$XDG_CONFIG_HOME/lanchat/identity.pem`.
pub fn default_identity_path() -> Option<PathBuf> {
    Some(xdg_dir("XDG_CONFIG_HOME", ".config")?.join("lanchat/identity.pem"))
}

/// Reads the user's identity (`--identity`, or the default file), making
/// it on first run and saying so.
pub fn identity(args: &Args) -> anyhow::Result<KeyFile> {
    let path = match &args.identity {
        Some(path) => path.clone(),
        None => default_identity_path().context(
            "no directory for your identity: set XDG_CONFIG_HOME or HOME, or give --identity FILE",
        )?,
    };
    let (keys, origin) = keyfile::load_or_create(&path)
        .with_context(|| format!("could not read or make your identity ({})", path.display()))?;
    if origin == Origin::Created {
        eprintln!(
            "Made your identity: {} ({}), readable by you alone. Servers know you by it.",
            keys.fingerprint,
            path.display()
        );
    }
    Ok(keys)
}

/// Settles how to connect to the server `choice` names.
pub async fn settle(args: &Args, choice: &Choice) -> anyhow::Result<Security> {
    if args.plain {
        eprintln!(
            "Joining {} over plain TCP (--plain): unencrypted, and as a guest.",
            choice.address
        );
        if args.password.is_some() {
            eprintln!("Warning: the password crosses the network in the clear with --plain.");
        }
        return Ok(Security::Plain);
    }
    let identity = Arc::new(identity(args)?);
    let (server_key, trusted) = match &choice.own_key {
        Some(key) => (key.clone(), Trusted::OwnRoom),
        None => (pinned_key(args, &choice.address).await?, Trusted::Pinned),
    };
    Ok(Security::Tls {
        identity,
        server_key,
        trusted,
    })
}

/// The key `address` must present: the one pinned for it, or, the first
/// time, the one it presents now if the user trusts it.
async fn pinned_key(args: &Args, address: &str) -> anyhow::Result<Fingerprint> {
    let path = crate::trust::default_path()
        .context("no directory for known servers: set XDG_DATA_HOME or HOME")?;
    let mut known =
        KnownServers::load(&path).with_context(|| format!("could not read {}", path.display()))?;
    let presented = match first_look(address).await {
        Ok(key) => key,
        // Down for now, but met before: the connection task tries again
        // and checks the pinned key each time.
        Err(problem) => match known.pinned(address) {
            Some(pinned) => return Ok(pinned.clone()),
            None => anyhow::bail!(
                "{problem}. lanchat checks a server's key the first time it joins it, so the \
                 server must be reachable then (a server that speaks only plain TCP can be joined \
                 unencrypted, as a guest, with --plain)"
            ),
        },
    };
    match known.verdict(address, &presented) {
        Verdict::Known => Ok(presented),
        Verdict::Changed { pinned } => {
            anyhow::bail!("{}", key_changed_warning(address, &pinned, &presented))
        }
        Verdict::New => {
            trust_new(args, address, &presented, &path).await?;
            known
                .remember(address, &presented)
                .with_context(|| format!("could not remember the key in {}", path.display()))?;
            Ok(presented)
        }
    }
}

/// Asks whether to trust a server met for the first time (unless
/// `--trust-new`); an error if the user says no.
async fn trust_new(
    args: &Args,
    address: &str,
    presented: &Fingerprint,
    file: &Path,
) -> anyhow::Result<()> {
    eprintln!(
        "This is the first time you join the server at {address}. Its key's fingerprint is\n\n    \
         {presented}\n\nIf you can, compare it with the one its operator sees (the server logs \
         it when it starts). Once trusted, the key is kept in {} and a different key is refused.",
        file.display()
    );
    if args.trust_new {
        eprintln!("Trusted (--trust-new).");
        return Ok(());
    }
    match ask("Trust this key and join? [y/N] ").await? {
        Some(answer) if answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes") => {
            Ok(())
        }
        _ => anyhow::bail!("not joined: the server's key was not trusted"),
    }
}

/// The key `address` presents, read from a TLS handshake that presents no
/// identity and is then dropped: nothing about the user is sent to a
/// server that is not trusted yet.
async fn first_look(address: &str) -> Result<Fingerprint, String> {
    let stream = crate::dial::connect(address, FIRST_LOOK).await?;
    let config = tls::client_config(None).map_err(|error| error.to_string())?;
    match tls::handshake(stream, config, FIRST_LOOK).await {
        Ok((_, key)) => Ok(key),
        Err(error) => Err(format!("no TLS connection with {address}: {error}")),
    }
}

//! Invite codes: what one citizen gives another so that their nodes meet
//! without typing an address. A code carries the inviting node's peer id,
//! the addresses it listens on and its postal code, in a few lines of
//! letters and digits that survive a text message, a QR code or being read
//! aloud: `cmn1` then base 32 (case and dashes ignored), ending with a
//! checksum so that a code cut short or mistyped is said to be wrong
//! rather than dialled.

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every code starts with: the format and its version.
pub const PREFIX: &str = "cmn1";

/// Addresses an invite carries at most.
pub const MAX_ADDRESSES: usize = 6;

/// The bytes of the checksum ending a code.
const CHECKSUM: usize = 4;

/// RFC 4648's base 32 alphabet, lower case.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// What a code says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invite {
    /// The inviting citizen's postal code.
    pub postal_code: String,
    /// The inviting node's peer id.
    pub peer_id: String,
    /// Where it listens.
    pub addresses: Vec<String>,
}

/// Why a code cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// Not one of ours.
    #[error("not an invite code: an invite starts with {PREFIX}")]
    Prefix,
    /// A character outside the code's alphabet.
    #[error("not an invite code: {0:?} is not one of its letters or digits")]
    Character(char),
    /// Mistyped or cut short.
    #[error(
        "the invite code is mistyped or incomplete (its checksum does not match): copy it again"
    )]
    Checksum,
    /// Well formed for its checksum, but not what an invite holds.
    #[error("the invite code is damaged: {0}")]
    Malformed(String),
}

impl Invite {
    /// An invite to the node `peer` listening on `addresses`, of which the
    /// first [`MAX_ADDRESSES`] are kept.
    pub fn new(postal_code: &str, peer: PeerId, addresses: &[Multiaddr]) -> Invite {
        Invite {
            postal_code: postal_code.to_owned(),
            peer_id: peer.to_string(),
            addresses: addresses
                .iter()
                .take(MAX_ADDRESSES)
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// The code.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::new();
        push_field(&mut bytes, self.postal_code.as_bytes());
        let peer = self
            .peer_id
            .parse::<PeerId>()
            .map(|peer| peer.to_bytes())
            .unwrap_or_default();
        push_field(&mut bytes, &peer);
        let addresses: Vec<Vec<u8>> = self
            .addresses
            .iter()
            .filter_map(|address| address.parse::<Multiaddr>().ok())
            .take(MAX_ADDRESSES)
            .map(|address| address.to_vec())
            .collect();
        bytes.push(addresses.len() as u8);
        for address in &addresses {
            push_field(&mut bytes, address);
        }
        let checksum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&checksum[..CHECKSUM]);
        format!("{PREFIX}{}", base32(&bytes))
    }

    /// Reads a code as a citizen pasted or typed it: any case, with dashes,
    /// spaces or line breaks anywhere.
    pub fn decode(code: &str) -> Result<Invite, InviteError> {
        let code: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        let body = code.strip_prefix(PREFIX).ok_or(InviteError::Prefix)?;
        let bytes = unbase32(body)?;
        if bytes.len() < CHECKSUM {
            return Err(InviteError::Checksum);
        }
        let (data, checksum) = bytes.split_at(bytes.len() - CHECKSUM);
        if Sha256::digest(data)[..CHECKSUM] != *checksum {
            return Err(InviteError::Checksum);
        }
        let mut reader = Reader(data);
        let postal_code = String::from_utf8(reader.field("postal code")?.to_vec())
            .map_err(|_| InviteError::Malformed("the postal code is not text".into()))?;
        crdt_model::schema::check_postal_key(&postal_code).map_err(|error| {
            InviteError::Malformed(format!("{postal_code:?} is not a postal code: {error}"))
        })?;
        let peer = PeerId::from_bytes(reader.field("peer id")?)
            .map_err(|error| InviteError::Malformed(format!("peer id: {error}")))?;
        let count = usize::from(reader.byte("address count")?);
        if count == 0 || count > MAX_ADDRESSES {
            return Err(InviteError::Malformed(format!("{count} addresses")));
        }
        let mut addresses = Vec::with_capacity(count);
        for _ in 0..count {
            let address = Multiaddr::try_from(reader.field("address")?.to_vec())
                .map_err(|error| InviteError::Malformed(format!("address: {error}")))?;
            addresses.push(address.to_string());
        }
        if !reader.0.is_empty() {
            return Err(InviteError::Malformed("bytes after the addresses".into()));
        }
        Ok(Invite {
            postal_code,
            peer_id: peer.to_string(),
            addresses,
        })
    }

    /// The addresses to dial, each ending with the peer id.
    pub fn dial_addresses(&self) -> Vec<Multiaddr> {
        let Ok(peer) = self.peer_id.parse::<PeerId>() else {
            return Vec::new();
        };
        self.addresses
            .iter()
            .filter_map(|address| address.parse::<Multiaddr>().ok())
            .map(|address| match address.iter().last() {
                Some(libp2p::multiaddr::Protocol::P2p(_)) => address,
                _ => address.with(libp2p::multiaddr::Protocol::P2p(peer)),
            })
            .collect()
    }
}

/// Writes a length byte, then `data` (at most 255 bytes of it): what
/// [`Reader::field`] reads.
fn push_field(bytes: &mut Vec<u8>, data: &[u8]) {
    let length = data.len().min(usize::from(u8::MAX));
    bytes.push(length as u8);
    bytes.extend_from_slice(&data[..length]);
}

/// Reads the bytes of a code in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self, what: &str) -> Result<u8, InviteError> {
        let (&byte, rest) = self
            .0
            .split_first()
            .ok_or_else(|| InviteError::Malformed(format!("no {what}")))?;
        self.0 = rest;
        Ok(byte)
    }

    /// A length byte, then that many bytes.
    fn field(&mut self, what: &str) -> Result<&'a [u8], InviteError> {
        let length = usize::from(self.byte(what)?);
        if self.0.len() < length {
            return Err(InviteError::Malformed(format!("{what} cut short")));
        }
        let (field, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(field)
    }
}

/// The file name of a data directory's list of community relays.
pub const RELAY_LIST: &str = "relays.txt";

/// The addresses of a list of community relays: one per line, each a
/// multiaddr ending with the relay's peer id or an invite code; blank
/// lines and lines starting with `#` are comments. A line that is
/// neither is an error naming it, so a mistyped list is not half used.
pub fn read_relay_list(text: &str) -> Result<Vec<Multiaddr>, String> {
    let mut addresses = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.to_ascii_lowercase().starts_with(PREFIX) {
            let invite =
                Invite::decode(line).map_err(|error| format!("line {}: {error}", n + 1))?;
            addresses.extend(invite.dial_addresses());
            continue;
        }
        let address: Multiaddr = line
            .parse()
            .map_err(|error| format!("line {}: {line:?} is not a multiaddr ({error})", n + 1))?;
        if !matches!(
            address.iter().last(),
            Some(libp2p::multiaddr::Protocol::P2p(_))
        ) {
            return Err(format!(
                "line {}: {line} does not end with the relay's peer id (/p2p/12D3KooW…)",
                n + 1
            ));
        }
        addresses.push(address);
    }
    Ok(addresses)
}

/// `bytes` in base 32, without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The bytes of base 32 text.
fn unbase32(text: &str) -> Result<Vec<u8>, InviteError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars() {
        let value = ALPHABET
            .iter()
            .position(|&letter| letter as char == c)
            .ok_or(InviteError::Character(c))?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    // The last letter's unused bits are zero in a code as written: other
    // bits there are a typo the checksum cannot see.
    if buffer != 0 || bits >= 5 {
        return Err(InviteError::Checksum);
    }
    Ok(out)
}

/// `code` as a QR code, upper case, at the medium error correction level
/// (a phone reads it with 15 % of it smudged).
pub fn qr_code(code: &str) -> Result<qrcode::QrCode, String> {
    qrcode::QrCode::with_error_correction_level(code.to_uppercase(), qrcode::EcLevel::M)
        .map_err(|error| format!("the invite does not fit a QR code: {error}"))
}

/// `code` as a QR code in SVG, with its quiet zone.
pub fn qr_svg(code: &str) -> Result<String, String> {
    Ok(qr_code(code)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build())
}

/// `code` as a QR code for a terminal, two modules a character: light
/// modules drawn, for the light-on-dark text of most terminals.
pub fn qr_text(code: &str) -> Result<String, String> {
    use qrcode::render::unicode::Dense1x2;
    Ok(qr_code(code)?
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Invite {
        let peer = libp2p::identity::Keypair::ed25519_from_bytes([7; 32])
            .unwrap()
            .public()
            .to_peer_id();
        Invite::new(
            "97400",
            peer,
            &[
                "/ip4/192.168.1.20/tcp/4001".parse().unwrap(),
                "/ip4/192.168.1.20/udp/4001/quic-v1".parse().unwrap(),
                "/ip6/fe80::1/tcp/4001".parse().unwrap(),
            ],
        )
    }

    #[test]
    fn a_code_reads_back_as_pasted_typed_or_split() {
        let invite = invite();
        let code = invite.encode();
        assert!(code.starts_with("cmn1"), "{code}");
        assert!(code.len() < 160, "{} characters: {code}", code.len());
        assert_eq!(Invite::decode(&code).unwrap(), invite);
        let shouted = code.to_uppercase();
        let grouped: String = code
            .chars()
            .collect::<Vec<_>>()
            .chunks(6)
            .map(|chunk| chunk.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("-");
        let wrapped = format!("  {}\n{}  ", &code[..40], &code[40..]);
        for variant in [shouted, grouped, wrapped] {
            assert_eq!(Invite::decode(&variant).unwrap(), invite, "{variant}");
        }
        let dial = invite.dial_addresses();
        assert_eq!(dial.len(), 3);
        assert!(
            dial[0]
                .to_string()
                .ends_with(&format!("/p2p/{}", invite.peer_id))
        );
    }

    #[test]
    fn a_relay_list_holds_addresses_and_codes_and_says_which_line_is_wrong() {
        let invite = invite();
        let relay =
            "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
        let list = format!(
            "# Relais de la commune\n\n{relay}\n  {}  \n",
            invite.encode()
        );
        let addresses = read_relay_list(&list).unwrap();
        assert_eq!(addresses.len(), 1 + invite.addresses.len());
        assert_eq!(addresses[0].to_string(), relay);
        let error = read_relay_list("# ok\n/ip4/192.0.2.7/tcp/4001\n").unwrap_err();
        assert!(
            error.starts_with("line 2:") && error.contains("peer id"),
            "{error}"
        );
        let error = read_relay_list("relais.example.org\n").unwrap_err();
        assert!(error.starts_with("line 1:"), "{error}");
        assert_eq!(read_relay_list("").unwrap(), Vec::<Multiaddr>::new());
    }

    #[test]
    fn a_mistyped_or_cut_code_is_said_wrong() {
        let code = invite().encode();
        // Every character changed in turn, to every other letter it could be.
        for at in PREFIX.len()..code.len() {
            let original = code.as_bytes()[at];
            for &other in ALPHABET.iter().filter(|&&c| c != original) {
                let mut typo = code.clone().into_bytes();
                typo[at] = other;
                let typo = String::from_utf8(typo).unwrap();
                assert!(Invite::decode(&typo).is_err(), "{typo} read");
            }
        }
        for cut in [
            code.len() - 1,
            code.len() / 2,
            PREFIX.len() + 2,
            PREFIX.len(),
        ] {
            assert!(
                Invite::decode(&code[..cut]).is_err(),
                "{} read",
                &code[..cut]
            );
        }
        assert_eq!(
            Invite::decode("/ip4/1.2.3.4/tcp/4001"),
            Err(InviteError::Prefix)
        );
        assert_eq!(Invite::decode("cmn1abc!"), Err(InviteError::Character('!')));
    }

    #[test]
    fn the_qr_code_reads_back_as_the_invite() {
        let peer = libp2p::PeerId::random();
        let addresses: Vec<Multiaddr> = (1..=6)
            .map(|n| {
                format!("/ip6/2001:db8::{n}/udp/4001/quic-v1")
                    .parse()
                    .unwrap()
            })
            .collect();
        let invite = Invite::new("97400", peer, &addresses);
        let code = invite.encode();
        let qr = qr_code(&code).unwrap();
        // Drawn four pixels a module, with a quiet zone of four modules.
        let (width, scale, quiet) = (qr.width(), 4, 4);
        let colors = qr.to_colors();
        let side = (width + 2 * quiet) * scale;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (x, y) = (x / scale, y / scale);
            let inside = (quiet..quiet + width).contains(&x) && (quiet..quiet + width).contains(&y);
            if inside && colors[(y - quiet) * width + x - quiet] == qrcode::Color::Dark {
                0
            } else {
                255
            }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, read) = grids[0].decode().unwrap();
        assert_eq!(read, code.to_uppercase());
        assert_eq!(Invite::decode(&read).unwrap(), invite, "case is ignored");

        let svg = qr_svg(&code).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
        let text = qr_text(&code).unwrap();
        assert_eq!(text.lines().count(), (qr.width() + 8).div_ceil(2), "{text}");
    }
}

//! The questions `communecter node` asks on its first run in a terminal,
//! when the data directory has no identity and no `--postal-code` was given.

use std::io::{BufRead, Write};

use anyhow::{Result, bail};
use node::local::Join;
use node::model::communes;

/// Most attempts at a question before giving up.
const ATTEMPTS: usize = 3;

fn ask(input: &mut impl BufRead, output: &mut impl Write, question: &str) -> Result<String> {
    write!(output, "{question}")?;
    output.flush()?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        bail!(
            "no answer (end of input); run `communecter init --postal-code <your postal code>` instead"
        );
    }
    Ok(line.trim().to_owned())
}

/// Asks for the postal code (and the commune when several share it), the
/// display name and the e-mail.
pub(crate) fn ask_join(input: &mut impl BufRead, output: &mut impl Write) -> Result<Join> {
    writeln!(output, "Welcome to Communecter! Let's join your commune.")?;
    let mut join = Join::default();
    for attempt in 1..=ATTEMPTS {
        let code = ask(input, output, "Your postal code (5 digits, like 97400): ")?;
        let candidates = communes::table().by_postal_code(&code);
        match candidates {
            [] => {
                writeln!(output, "{code:?} is not a French postal code we know.")?;
                if attempt == ATTEMPTS {
                    bail!("no valid postal code given");
                }
            }
            [_] => {
                join.postal_code = code;
                break;
            }
            several => {
                writeln!(output, "Several communes share {code}:")?;
                for (number, commune) in several.iter().enumerate() {
                    writeln!(
                        output,
                        "  {}) {} ({})",
                        number + 1,
                        commune.name,
                        commune.insee
                    )?;
                }
                // The arrondissement of a code its city shares is the
                // default: Enter takes it.
                let default = communes::table().default_commune(&code);
                let question = match default {
                    Some(commune) => {
                        format!("Yours [1-{}, Enter for {}]: ", several.len(), commune.name)
                    }
                    None => format!("Yours [1-{}]: ", several.len()),
                };
                let choice = ask(input, output, &question)?;
                let chosen = match (choice.as_str(), default) {
                    ("", Some(commune)) => Some(commune),
                    _ => choice
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| several.get(n.wrapping_sub(1)).copied()),
                };
                match chosen {
                    Some(commune) => {
                        join.postal_code = code;
                        join.insee = Some(commune.insee.to_owned());
                        break;
                    }
                    None => {
                        writeln!(output, "{choice:?} is not one of the numbers shown.")?;
                        if attempt == ATTEMPTS {
                            bail!("no commune chosen");
                        }
                    }
                }
            }
        }
    }
    let name = ask(input, output, "Your display name (public; Enter to skip): ")?;
    join.name = (!name.is_empty()).then_some(name);
    let email = ask(
        input,
        output,
        "Your e-mail (kept on this computer only; Enter to skip): ",
    )?;
    join.email = (!email.is_empty()).then_some(email);
    Ok(join)
}

#[cfg(test)]
mod tests {
    use super::ask_join;

    fn answers(text: &str) -> (anyhow::Result<node::local::Join>, String) {
        let mut output = Vec::new();
        let join = ask_join(&mut text.as_bytes(), &mut output);
        (join, String::from_utf8(output).unwrap())
    }

    #[test]
    fn a_single_commune_postal_code() {
        let (join, _) = answers("97400\nMarie\nmarie@example.org\n");
        let join = join.unwrap();
        assert_eq!(join.postal_code, "97400");
        assert_eq!(join.insee, None);
        assert_eq!(join.name.as_deref(), Some("Marie"));
        assert_eq!(join.email.as_deref(), Some("marie@example.org"));
    }

    #[test]
    fn the_arrondissement_of_a_code_its_city_shares_is_the_default() {
        let (join, output) = answers("75011\n\nMarie\n\n");
        assert!(
            output.contains("Enter for Paris 11e Arrondissement"),
            "{output}"
        );
        assert_eq!(join.unwrap().insee.as_deref(), Some("75111"));
        // The city is still there to choose.
        let (join, output) = answers("75011\n1\nMarie\n\n");
        assert!(output.contains("1) Paris (75056)"), "{output}");
        assert_eq!(join.unwrap().insee.as_deref(), Some("75056"));
    }

    #[test]
    fn a_shared_postal_code_asks_for_the_commune_and_retries() {
        let (join, output) = answers("00000\n13001\n9\n13001\n1\n\n\n");
        let join = join.unwrap();
        assert!(output.contains("not a French postal code"), "{output}");
        assert!(output.contains("Several communes share 13001"), "{output}");
        assert!(output.contains("not one of the numbers"), "{output}");
        assert_eq!(join.postal_code, "13001");
        assert!(join.insee.is_some());
        assert_eq!(join.name, None);
        assert_eq!(join.email, None);
    }

    #[test]
    fn giving_up_is_an_error() {
        assert!(answers("1\n2\n3\n").0.is_err());
        assert!(answers("").0.is_err());
    }
}

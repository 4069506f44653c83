//! Text normalisation for French search.
//!
//! [`fold`] turns a text into a case- and accent-insensitive normal form:
//! `"Saint-Étienne"`, `"SAINT ETIENNE"` and `"saint étienne"` all fold to
//! `"saint etienne"`. Two texts that a French reader would consider "the same
//! words" fold to the same string, so folded strings can be compared, hashed or
//! prefix-searched directly.
//!
//! Rules, applied character by character:
//! - letters are lowercased, then Latin diacritics are removed (`é è ê ë → e`,
//!   `ç → c`, `ÿ → y`, `ñ → n`…); the ligatures `œ`, `æ` and `ß` are spelled
//!   out (`oe`, `ae`, `ss`); other letters (Greek, Cyrillic…) are only
//!   lowercased;
//! - combining diacritical marks (U+0300–U+036F, as in decomposed text) are
//!   dropped, so decomposed and precomposed texts fold alike;
//! - digits are kept;
//! - everything else (spaces, hyphens, apostrophes `'` and `’`, underscores,
//!   punctuation, symbols) separates words;
//! - words are joined by a single ASCII space, with none at either end.

/// Folds `text` into its case- and accent-insensitive search form.
///
/// The result contains only lowercase letters, digits and single ASCII spaces
/// between words (see the [module documentation](self) for the exact rules).
///
/// ```
/// use crdt_model::text::fold;
/// assert_eq!(fold("  Saint-Étienne-du-Rouvray "), "saint etienne du rouvray");
/// assert_eq!(fold("L'Haÿ-les-Roses"), "l hay les roses");
/// assert_eq!(fold("Œuvre & CŒUR"), "oeuvre coeur");
/// ```
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, &mut out);
    out
}

/// Appends the folded form of `text` (see [`fold`]) to `out`, without a
/// separator before it; saves an allocation when folding many texts.
///
/// ```
/// use crdt_model::text::fold_into;
/// let mut out = String::from("x|");
/// fold_into(" L’Île-Rousse ", &mut out);
/// assert_eq!(out, "x|l ile rousse");
/// ```
pub fn fold_into(text: &str, out: &mut String) {
    out.reserve(text.len());
    let start = out.len();
    let mut pending_space = false;
    for c in text.chars() {
        if is_combining_mark(c) {
            continue;
        }
        if !c.is_alphanumeric() {
            pending_space = out.len() > start;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for lower in c.to_lowercase() {
            if is_combining_mark(lower) {
                continue;
            }
            match strip_diacritic(lower) {
                Folded::One(f) => out.push(f),
                Folded::Two(a, b) => {
                    out.push(a);
                    out.push(b);
                }
            }
        }
    }
}

/// Splits `text` into its words, as [`fold`] sees them, without folding them.
///
/// Words are the maximal runs of letters, digits and combining marks; every
/// other character separates words. Folding each word gives the words of
/// `fold(text)`:
///
/// ```
/// use crdt_model::text::{fold, words};
/// let text = "Saint-Denis-d’Oléron";
/// assert_eq!(words(text).collect::<Vec<_>>(), ["Saint", "Denis", "d", "Oléron"]);
/// let folded: Vec<String> = words(text).map(fold).collect();
/// assert_eq!(folded.join(" "), fold(text));
/// ```
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_separator).filter(|word| !word.is_empty())
}

/// Whether [`fold`] treats `c` as a word separator: anything that is neither a
/// letter, a digit nor a combining diacritical mark.
///
/// ```
/// use crdt_model::text::is_separator;
/// assert!(is_separator('-') && is_separator('’') && is_separator('_'));
/// assert!(!is_separator('é') && !is_separator('7'));
/// ```
pub fn is_separator(c: char) -> bool {
    !c.is_alphanumeric() && !is_combining_mark(c)
}

/// Combining Diacritical Marks block (accents of decomposed text).
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

/// Result of stripping a lowercase letter.
enum Folded {
    One(char),
    Two(char, char),
}

/// Removes the diacritic of a lowercase Latin letter (Latin-1 Supplement and
/// Latin Extended-A), spells out ligatures; any other char is returned as is.
fn strip_diacritic(c: char) -> Folded {
    let one = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => 's',
        'ţ' | 'ť' | 'ŧ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        'œ' => return Folded::Two('o', 'e'),
        'æ' => return Folded::Two('a', 'e'),
        'ß' => return Folded::Two('s', 's'),
        'ĳ' => return Folded::Two('i', 'j'),
        'þ' => return Folded::Two('t', 'h'),
        'ð' => 'd',
        other => other,
    };
    Folded::One(one)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_strips_french_accents() {
        assert_eq!(fold("éèêë àâä îï ôö ùûü ç ÿ ñ"), "eeee aaa ii oo uuu c y n");
        assert_eq!(fold("ÉÈÊË ÀÂÄ ÎÏ ÔÖ ÙÛÜ Ç Ÿ Ñ"), "eeee aaa ii oo uuu c y n");
        assert_eq!(fold("Saint-Étienne"), "saint etienne");
        assert_eq!(fold("SAINT-ÉTIENNE"), fold("saint etienne"));
    }

    #[test]
    fn spells_out_ligatures() {
        assert_eq!(fold("Œuvre cœur"), "oeuvre coeur");
        assert_eq!(fold("Æsope Lætitia"), "aesope laetitia");
        assert_eq!(fold("Straße STRAẞE"), "strasse strasse");
    }

    #[test]
    fn separators_become_single_spaces() {
        assert_eq!(fold("L'Haÿ-les-Roses"), "l hay les roses");
        assert_eq!(fold("Villeneuve-d’Ascq"), "villeneuve d ascq");
        assert_eq!(fold("a_b.c,d;e!f?g(h)i/j"), "a b c d e f g h i j");
        assert_eq!(fold("  \t saint \n\n denis  "), "saint denis");
        assert_eq!(fold("«Paris»—Lyon…Marseille"), "paris lyon marseille");
        assert_eq!(fold("a\u{00A0}b"), "a b");
    }

    #[test]
    fn keeps_digits() {
        assert_eq!(fold("Paris 1er Arrondissement"), "paris 1er arrondissement");
        assert_eq!(fold("75001"), "75001");
    }

    #[test]
    fn empty_and_separator_only_inputs_fold_to_empty() {
        assert_eq!(fold(""), "");
        assert_eq!(fold(" - ' ’ _ "), "");
    }

    #[test]
    fn decomposed_text_folds_like_precomposed() {
        assert_eq!(fold("Ore\u{301}e"), fold("Orée"));
        assert_eq!(fold("E\u{301}TIENNE"), "etienne");
    }

    #[test]
    fn other_scripts_are_only_lowercased() {
        assert_eq!(fold("ΑΘΗΝΑ Москва"), "αθηνα москва");
    }

    #[test]
    fn fold_is_idempotent() {
        for text in [
            "Saint-Étienne",
            "L'Haÿ-les-Roses",
            "Œ ß Æ",
            "ΑΘΗΝΑ",
            "İstanbul",
        ] {
            let once = fold(text);
            assert_eq!(fold(&once), once, "{text}");
        }
    }

    #[test]
    fn fold_into_appends() {
        let mut out = String::from("abc ");
        fold_into("-Déjà vu-", &mut out);
        assert_eq!(out, "abc deja vu");
        fold_into("", &mut out);
        assert_eq!(out, "abc deja vu");
    }

    #[test]
    fn words_split_on_separators() {
        assert_eq!(
            words("Saint-Denis-d’Oléron").collect::<Vec<_>>(),
            ["Saint", "Denis", "d", "Oléron"]
        );
        assert_eq!(words(" -- ").count(), 0);
        for text in ["L'Haÿ-les-Roses", "  a_b  c ", "Cœur-d'Œuvre"] {
            let folded: Vec<String> = words(text).map(fold).collect();
            assert_eq!(folded.join(" "), fold(text), "{text}");
        }
    }
}

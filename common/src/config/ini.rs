//! The only place that talks to `serde_ini`. It is stable but rough:
//! indented comments and blank-looking lines are syntax errors, inline
//! comments stay in values, and errors carry no line number. So lines are
//! fed to its parser one by one (one item per line gives us the line
//! number), leading blanks are trimmed first, ` ;` / ` #` inline comments
//! are cut from values, and duplicate keys are refused.

use std::collections::HashMap;
use std::path::Path;

use serde_ini::parse::{Error as IniError, Item, OkIter, Parser, SyntaxError};

use super::ConfigError;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

pub fn read(path: &Path) -> Result<Vec<Entry>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::InvalidData => "save it as UTF-8 text",
            _ => "check the path or pass --config FILE",
        };
        ConfigError::new(path, None, None, format!("cannot read the file ({e}); {hint}"))
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.lines().map(str::trim_start);
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, (item, raw)) in Parser::new(OkIter(trimmed)).zip(text.lines()).enumerate() {
        let line = index + 1;
        let err = |msg: String| ConfigError::new(path, Some(line), None, msg);
        match item {
            Ok(Item::Value { key, value }) => {
                if key.is_empty() {
                    return Err(err("a line starts with '=': expected `key = value`".into()));
                }
                let key = key.to_ascii_lowercase();
                if let Some(first) = seen.insert(key.clone(), line) {
                    return Err(ConfigError::new(
                        path,
                        Some(line),
                        Some(&key),
                        format!("given twice (first on line {first}); keep one"),
                    ));
                }
                entries.push(Entry { key, value: strip_inline_comment(&value).to_owned(), line });
            }
            Ok(Item::Empty | Item::Comment { .. } | Item::Section { .. }) => {}
            Err(IniError::Syntax(SyntaxError::MissingEquals)) => {
                return Err(err(format!("expected `key = value`, found {:?}", raw.trim())));
            }
            Err(IniError::Syntax(e)) => return Err(err(format!("{e}: {:?}", raw.trim()))),
            Err(IniError::Inner(never)) => match never {},
        }
    }
    Ok(entries)
}

/// `5000 ; the port` → `5000`. A `;` or `#` starts a comment at the start
/// of a value or after a blank, so paths like `a#b` survive.
fn strip_inline_comment(value: &str) -> &str {
    let cut = value
        .char_indices()
        .find(|&(i, c)| (c == ';' || c == '#') && (i == 0 || value[..i].ends_with([' ', '\t'])))
        .map_or(value.len(), |(i, _)| i);
    value[..cut].trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_numbers_lines() {
        let text = "\u{feff}# top\n   ; indented comment\n \t\n[section]\n a = 1 ; note\nb=x#y\nc = ; todo\n";
        let e = parse(Path::new("f.ini"), text).unwrap();
        assert_eq!(e[0], Entry { key: "a".into(), value: "1".into(), line: 5 });
        assert_eq!(e[1].value, "x#y");
        assert_eq!(e[2].value, "", "a value that is only a comment is empty");
        let err = parse(Path::new("f.ini"), "a = 1\noops\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.to_string().contains("f.ini:2"), "{err}");
    }
}

//! Asking on a terminal before a command does something that is hard to
//! take back: a destroy (`jobs submit destroy`), or enforcement that stops
//! running machines the moment a window is added (`windows add --enforce`).
//!
//! Only a person is asked: callers check that standard input is a terminal
//! and that `--yes` was not given; a script, a pipe or cron never blocks on
//! a question. The answer is yes only when it says so: anything else, an
//! empty line or the end of the input, is no.

use std::io::{BufRead, Write};

/// Writes `question` followed by ` [y/N] ` on `output` and reads the answer
/// from `input`: true only for `y` or `yes` (any case, spaces around).
pub(super) fn confirm(
    question: &str,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> std::io::Result<bool> {
    write!(output, "{question} [y/N] ")?;
    output.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    let answer = answer.trim().to_ascii_lowercase();
    Ok(answer == "y" || answer == "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(answer: &str) -> (bool, String) {
        let mut output = Vec::new();
        let yes = confirm("Go?", &mut answer.as_bytes(), &mut output).unwrap();
        (yes, String::from_utf8(output).unwrap())
    }

    #[test]
    fn only_yes_is_yes() {
        assert_eq!(ask("y\n"), (true, "Go? [y/N] ".to_string()));
        for yes in ["y\n", "yes\n", "Y\n", " YES \n", "y"] {
            assert!(ask(yes).0, "{yes:?}");
        }
        for no in ["\n", "n\n", "no\n", "yess\n", "sure\n", ""] {
            assert!(!ask(no).0, "{no:?}");
        }
    }
}

//! Command-line handling shared by the examples: `--flag value` and
//! `--flag=value` arguments, `--help`, and the usage message on a bad argument.

use std::process::ExitCode;

/// Walks the program's arguments, calling `on_flag(name, value)` for each;
/// `value()` takes the flag's value (inline after `=`, or the next argument)
/// only for flags that have one. `--help` / `-h` end the walk with an empty
/// error, which [`args_or_exit`] turns into the usage text.
pub fn parse_flags(
    mut on_flag: impl FnMut(&str, &mut dyn FnMut() -> Result<String, String>) -> Result<(), String>,
) -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        on_flag(&flag, &mut value)?;
    }
    Ok(())
}

/// The error for an argument no example knows.
pub fn unknown(flag: &str) -> String {
    format!("unknown argument {flag:?}")
}

/// Parses a `--seconds` value: a finite, non-negative number.
pub fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("bad value {value:?} for --seconds")),
    }
}

/// The parsed options, or the exit code after printing usage (for `--help`,
/// success) or the error and usage (failure, code 2).
pub fn args_or_exit<T>(
    program: &str,
    usage: &str,
    parsed: Result<T, String>,
) -> Result<T, ExitCode> {
    match parsed {
        Ok(o) => Ok(o),
        Err(e) if e.is_empty() => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{program}: {e}\n\n{usage}");
            Err(ExitCode::from(2))
        }
    }
}

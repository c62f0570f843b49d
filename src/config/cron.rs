//! Cron schedules with seconds, checked field by field before croner parses them.

/// A six-field cron expression (with seconds), kept with its text for messages.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub text: String,
    pub cron: croner::Cron,
}

impl CronSchedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields = text.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "needs 6 fields (sec min hour day month weekday), found {fields}"
            ));
        }
        check_cron_numbers(text)?;
        croner::Cron::new(text)
            .with_seconds_required()
            .parse()
            .map(|cron| CronSchedule {
                text: text.to_string(),
                cron,
            })
            .map_err(|e| e.to_string())
    }
}

/// The six cron fields as messages name them, with the numbers each allows (weekday 7 is
/// Sunday again).
const CRON_FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
];

/// Checks every number in a list, range or step against its field, because croner says only
/// "Number out of bounds" without saying which field. Names (MON, JAN) and L, W, # are left to
/// croner.
fn check_cron_numbers(text: &str) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (field, (name, min, max)) in text.split_whitespace().zip(CRON_FIELDS) {
        for part in field.split(',') {
            let (base, step) = match part.split_once('/') {
                Some((base, step)) => (base, Some(step)),
                None => (part, None),
            };
            if step.and_then(|s| s.parse::<u64>().ok()) == Some(0) {
                wrong.push(format!("{name} {part}: the step must be at least 1"));
            }
            for number in base.split('-') {
                if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let in_range = number
                    .parse::<u32>()
                    .is_ok_and(|n| (min..=max).contains(&n));
                if !in_range {
                    wrong.push(format!("{name} {number}: must be {min}-{max}"));
                }
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cron_number_out_of_range_names_its_field() {
        let cases = [
            ("0 0 25 * * *", "hour 25: must be 0-23"),
            ("60 * * * * *", "second 60: must be 0-59"),
            ("0 61 * * * *", "minute 61: must be 0-59"),
            ("0 0 0 0 * *", "day of month 0: must be 1-31"),
            ("0 0 0 32 * *", "day of month 32: must be 1-31"),
            ("0 0 0 * 13 *", "month 13: must be 1-12"),
            ("0 0 0 * * 8", "weekday 8: must be 0-7"),
            ("0 0 1-25 * * *", "hour 25: must be 0-23"),
            ("0 0 7,24 * * *", "hour 24: must be 0-23"),
            ("0 0 30/2 * * *", "hour 30: must be 0-23"),
            ("0 */0 * * * *", "minute */0: the step must be at least 1"),
            (
                "0 99 25 * * *",
                "minute 99: must be 0-59; hour 25: must be 0-23",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(CronSchedule::parse(text).unwrap_err(), expected, "{text}");
        }
        for fine in [
            "0 0 7 * * *",
            "0 */30 * * * *",
            "59 59 23 31 12 7",
            "0 0 0 1-31/2 JAN-DEC MON-FRI",
            "0 0 0 L * 5#2",
        ] {
            assert!(CronSchedule::parse(fine).is_ok(), "{fine}");
        }
    }
}

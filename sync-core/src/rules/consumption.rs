//! Parts consumption: append-only lines; a correction is a void line, never an edit in place.

use crate::workorder::{ConsumptionLine, NewConsumption};
use crate::{Error, LineId, Result};

/// Longest SKU or serial number accepted.
pub const MAX_CODE_LEN: usize = 64;

/// Check a new consumption line before it is written.
pub fn validate_new(line: &NewConsumption) -> Result<()> {
    let sku = line.sku.trim();
    if sku.is_empty() || sku.len() > MAX_CODE_LEN {
        return Err(Error::InvalidInput(format!(
            "SKU must be 1-{MAX_CODE_LEN} characters"
        )));
    }
    if line.qty <= 0 {
        return Err(Error::InvalidInput(
            "quantity must be greater than zero".into(),
        ));
    }
    for serial in [&line.serial, &line.replaced_serial].into_iter().flatten() {
        let s = serial.trim();
        if s.is_empty() || s.len() > MAX_CODE_LEN {
            return Err(Error::InvalidInput(format!(
                "serial numbers must be 1-{MAX_CODE_LEN} characters"
            )));
        }
    }
    if line.serial.is_some() && line.qty != 1 {
        return Err(Error::InvalidInput(
            "a serial-numbered part is consumed one unit per line".into(),
        ));
    }
    Ok(())
}

/// The line `id` if it may be voided: it exists, is not itself a void line, and is not voided yet.
pub fn voidable<'a>(lines: &'a [ConsumptionLine], id: &LineId) -> Result<&'a ConsumptionLine> {
    let line = lines
        .iter()
        .find(|l| l.id == *id)
        .ok_or_else(|| Error::NotFound(format!("consumption line {id}")))?;
    if line.voids.is_some() {
        return Err(Error::InvalidInput("a void line cannot be voided".into()));
    }
    if lines.iter().any(|l| l.voids == Some(*id)) {
        return Err(Error::InvalidInput("line is already void".into()));
    }
    Ok(line)
}

/// What the ledger sees of a line: `+qty` consumed, or `-qty` for a void line (the reverse
/// movement). Posted once per line id.
pub fn ledger_delta(line: &ConsumptionLine) -> i64 {
    if line.voids.is_some() {
        -line.qty
    } else {
        line.qty
    }
}

//! The numbering tables of docs/protocol.md and the code must agree: the P4
//! program and the P4Info are written from the document, the nodes from the
//! code.

use netcraq_core::{Mode, Outcome, Role};
use netcraq_wire::{ErrorCode, Op, NETCRAQ_UDP_PORT};

const SPEC: &str = include_str!("../../../docs/protocol.md");

/// The (code, name) pairs of a spec section's tables: cells holding a number
/// followed by a cell holding a backquoted name.
fn numbered_names(section_heading: &str) -> Vec<(u8, String)> {
    let start = SPEC.find(section_heading).unwrap_or_else(|| panic!("spec has no section {section_heading:?}"));
    let section = &SPEC[start + section_heading.len()..];
    let section = &section[..section.find("\n#").unwrap_or(section.len())];
    let mut pairs = Vec::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for window in cells.windows(2) {
            let name = window[1].strip_prefix('`').and_then(|n| n.strip_suffix('`'));
            if let (Ok(code), Some(name)) = (window[0].parse::<u8>(), name) {
                pairs.push((code, name.to_string()));
            }
        }
    }
    assert!(!pairs.is_empty(), "no numbered names found under {section_heading:?}");
    pairs
}

#[test]
fn outcome_codes_match_section_6() {
    let pairs = numbered_names("## 6. Outcome codes");
    assert_eq!(pairs.len(), Outcome::COUNT);
    for (code, name) in pairs {
        assert_eq!(Outcome::from_name(&name).map(Outcome::index), Some(usize::from(code)), "{name}");
    }
}

#[test]
fn operation_codes_match_section_1_2() {
    let pairs = numbered_names("### 1.2 Operation codes");
    assert_eq!(pairs.len(), Op::ALL.len());
    for (code, name) in pairs {
        assert_eq!(Op::from_code(code).map(Op::name), Some(name.as_str()));
    }
}

#[test]
fn error_codes_match_section_1_3() {
    let pairs = numbered_names("### 1.3 Error codes");
    assert_eq!(pairs.len(), ErrorCode::ALL.len());
    for (code, name) in pairs {
        assert_eq!(ErrorCode::from_code(code).map(ErrorCode::name), Some(name.as_str()));
    }
}

#[test]
fn role_mode_and_port_match_section_2_3_and_1() {
    let role_line = SPEC.lines().find(|l| l.starts_with("| `role`")).expect("node_config row for role");
    for role in [Role::Head, Role::Replica, Role::Tail, Role::Solo] {
        assert!(role_line.contains(&format!("{} `{}`", role as u8, role.name())), "{role_line}");
    }
    let mode_line = SPEC.lines().find(|l| l.starts_with("| `mode`")).expect("node_config row for mode");
    for mode in [Mode::Craq, Mode::Cr] {
        assert!(mode_line.contains(&format!("{} `{}`", mode as u8, mode.name())), "{mode_line}");
    }
    assert!(SPEC.contains(&format!("destination port **{NETCRAQ_UDP_PORT}**")));
}

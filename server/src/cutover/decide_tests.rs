//! The cutover's decisions through whole cutovers, on an injected clock.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::check::check_text;
use super::decide::{Action, Decision, GateNow, Hold, Refusal, State, auto_hold, decide};
use super::plan::Plan;

const PLAN: &str = "name: big-bang
environments: {source: 'env=\"source\"', target: 'env=\"target\"'}
phases:
  - name: prepare
    traffic: 0
  - name: shift-10
    traffic: 10
    hold_for: 10m
    gates:
      - {name: errors, query: 'x', below: 0.01}
  - name: shift-50
    traffic: 50
    point_of_no_return: true
  - name: shift-100
    traffic: 100
";

const MIN: Duration = Duration::from_secs(60);

fn plan() -> Plan {
    check_text(Path::new("plan.yaml"), PLAN).expect("a good plan")
}

fn t(minutes: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + MIN * minutes as u32
}

fn at(phase: usize, since: SystemTime) -> State {
    State {
        phase,
        since,
        hold: None,
    }
}

fn green_since(minute: u64) -> Vec<GateNow> {
    vec![GateNow {
        name: "errors".into(),
        green_since: Some(t(minute)),
    }]
}

fn red() -> Vec<GateNow> {
    vec![GateNow {
        name: "errors".into(),
        green_since: None,
    }]
}

fn advance() -> Action {
    Action::Advance {
        override_reason: None,
    }
}

#[test]
fn a_phase_advances_once_its_gates_have_been_green_for_hold_for() {
    // Arrange: shift-10 began at minute 0; its gate green since minute 2.
    let (plan, state) = (plan(), at(1, t(0)));

    // Act
    let early = decide(&plan, &state, &green_since(2), &advance(), "cdr", t(7));
    let on_time = decide(&plan, &state, &green_since(2), &advance(), "cdr", t(12));

    // Assert
    assert_eq!(
        early,
        Decision::Refused(Refusal::NotReady {
            red: vec![],
            waiting: vec![("errors".into(), 5 * MIN)]
        })
    );
    let Decision::Refused(why) = &early else {
        unreachable!()
    };
    assert_eq!(
        why.to_string(),
        "not ready: errors must stay green 5m more (or advance with an override and a reason)"
    );
    assert_eq!(
        on_time,
        Decision::Advance {
            to: 2,
            overridden: None
        }
    );
}

#[test]
fn a_red_gate_refuses_advance_unless_overridden_with_a_written_reason() {
    // Arrange
    let (plan, state) = (plan(), at(1, t(0)));
    let with = |reason: &str| Action::Advance {
        override_reason: Some(reason.into()),
    };

    // Act
    let refused = decide(&plan, &state, &red(), &advance(), "cdr", t(30));
    let blank = decide(&plan, &state, &red(), &with("  "), "cdr", t(30));
    let overridden = decide(
        &plan,
        &state,
        &red(),
        &with("dashboards lag; checked by hand"),
        "cdr",
        t(30),
    );

    // Assert
    assert_eq!(
        refused,
        Decision::Refused(Refusal::NotReady {
            red: vec!["errors".into()],
            waiting: vec![]
        })
    );
    assert_eq!(blank, Decision::Refused(Refusal::NoReason));
    assert_eq!(
        overridden,
        Decision::Advance {
            to: 2,
            overridden: Some("dashboards lag; checked by hand".into())
        }
    );
}

#[test]
fn a_gate_turning_red_holds_the_cutover_until_someone_resumes_it() {
    // Arrange
    let (plan, state) = (plan(), at(1, t(0)));

    // Act: green, then red at minute 20.
    let hold = auto_hold(&state, &green_since(2), &red()).expect("a hold");
    let held = state.after(&Decision::Hold(hold.clone()), t(20));
    let advance_while_held = decide(&plan, &held, &green_since(21), &advance(), "cdr", t(40));
    let again = auto_hold(&held, &green_since(21), &red());
    let resumed = held.after(
        &decide(&plan, &held, &[], &Action::Resume, "cdr", t(41)),
        t(41),
    );
    let then = decide(&plan, &resumed, &green_since(21), &advance(), "cdr", t(41));

    // Assert
    assert_eq!(
        hold,
        Hold::GateRed {
            gate: "errors".into()
        }
    );
    assert_eq!(
        auto_hold(&state, &red(), &red()),
        None,
        "red from the start is not a turn"
    );
    assert_eq!(
        advance_while_held,
        Decision::Refused(Refusal::Held(hold.clone()))
    );
    assert_eq!(again, None, "held already");
    assert_eq!(resumed.hold, None);
    assert_eq!(resumed.since, t(0), "a hold does not restart the phase");
    assert_eq!(
        then,
        Decision::Advance {
            to: 2,
            overridden: None
        }
    );
}

#[test]
fn a_hold_by_hand_needs_a_reason_and_is_not_taken_twice() {
    // Arrange
    let (plan, state) = (plan(), at(1, t(0)));
    let hold = |reason: &str| Action::Hold {
        reason: reason.into(),
    };

    // Act
    let blank = decide(&plan, &state, &[], &hold(""), "ana", t(1));
    let held = decide(&plan, &state, &[], &hold("DNS looks slow"), "ana", t(1));
    let twice = decide(
        &plan,
        &state.after(&held, t(1)),
        &[],
        &hold("again"),
        "bo",
        t(2),
    );
    let resume = decide(&plan, &state, &[], &Action::Resume, "ana", t(1));

    // Assert
    assert_eq!(blank, Decision::Refused(Refusal::NoReason));
    let by_hand = Hold::ByHand {
        actor: "ana".into(),
        reason: "DNS looks slow".into(),
    };
    assert_eq!(held, Decision::Hold(by_hand.clone()));
    assert_eq!(twice, Decision::Refused(Refusal::AlreadyHeld(by_hand)));
    assert_eq!(resume, Decision::Refused(Refusal::NotHeld));
}

#[test]
fn rollback_goes_to_an_earlier_phase_until_the_point_of_no_return_begins() {
    // Arrange
    let plan = plan();
    let back = |to: &str| Action::Rollback { to: to.into() };

    // Act
    let before = decide(&plan, &at(1, t(0)), &[], &back("prepare"), "cdr", t(5));
    let at_no_return = decide(&plan, &at(2, t(0)), &[], &back("shift-10"), "cdr", t(5));
    let after_it = decide(&plan, &at(3, t(0)), &[], &back("shift-50"), "cdr", t(5));
    let forward = decide(&plan, &at(1, t(0)), &[], &back("shift-50"), "cdr", t(5));
    let unknown = decide(&plan, &at(1, t(0)), &[], &back("shift-5"), "cdr", t(5));

    // Assert
    assert_eq!(before, Decision::Rollback { to: 0 });
    assert_eq!(
        at_no_return,
        Decision::Refused(Refusal::PastPointOfNoReturn {
            phase: "shift-50".into()
        })
    );
    let Decision::Refused(why) = &at_no_return else {
        unreachable!()
    };
    assert_eq!(
        why.to_string(),
        "no rollback past shift-50, the point of no return"
    );
    assert_eq!(after_it, Decision::Rollback { to: 2 });
    assert_eq!(
        forward,
        Decision::Refused(Refusal::NotEarlier {
            phase: "shift-50".into()
        })
    );
    assert_eq!(
        unknown,
        Decision::Refused(Refusal::UnknownPhase("shift-5".into()))
    );
}

#[test]
fn a_whole_cutover_runs_from_prepare_to_the_last_phase_and_stops_there() {
    // Arrange
    let plan = plan();
    let mut state = at(0, t(0));
    let steps: [(u64, Vec<GateNow>); 3] = [(1, vec![]), (12, green_since(1)), (20, vec![])];

    // Act
    for (minute, gates) in steps {
        let decision = decide(&plan, &state, &gates, &advance(), "cdr", t(minute));
        assert!(
            matches!(decision, Decision::Advance { .. }),
            "minute {minute}: {decision:?}"
        );
        state = state.after(&decision, t(minute));
    }
    let past_the_end = decide(&plan, &state, &[], &advance(), "cdr", t(30));

    // Assert
    assert_eq!(state, at(3, t(20)));
    assert_eq!(past_the_end, Decision::Refused(Refusal::LastPhase));
}

package engine

import (
	"fmt"
	"strings"
)

// State is where a hosted disruptor is in its lifecycle:
//
//	created ──start──▶ running ◀──resume── paused
//	                      │  └───pause────▶  │
//	                      └──stop──▶ stopped ◀┘
//
// and any state ──delete──▶ deleted. Moving to the state a disruptor is
// already in is allowed and changes nothing (so a retried PUT is harmless);
// every other move not drawn above is refused with
// [ErrInvalidTransition].
//
// A created disruptor has its ring but no running consumers, and refuses
// events. A running one accepts events. A paused one refuses new events
// while its consumers drain what was published. A stopped one has drained
// and stopped its consumers for good; its ring, and so its replay window,
// stays readable until it is deleted.
type State uint8

// The states. The zero value is not a state.
const (
	StateCreated State = iota + 1
	StateRunning
	StatePaused
	StateStopped
	StateDeleted
)

// States lists every state in lifecycle order.
var States = []State{StateCreated, StateRunning, StatePaused, StateStopped, StateDeleted}

var stateNames = [...]string{
	StateCreated: "created",
	StateRunning: "running",
	StatePaused:  "paused",
	StateStopped: "stopped",
	StateDeleted: "deleted",
}

// String returns the state's name as the API spells it.
func (s State) String() string {
	if s >= StateCreated && s <= StateDeleted {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState maps a state's name (any case) to the State.
func ParseState(name string) (State, error) {
	for _, s := range States {
		if strings.EqualFold(name, stateNames[s]) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("engine: unknown state %q (want created, running, paused, stopped or deleted)", name)
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// transitions is the lifecycle table: transitions[from] lists the states
// reachable from it in one step (besides staying put and being deleted).
var transitions = [...][]State{
	StateCreated: {StateRunning},
	StateRunning: {StatePaused, StateStopped},
	StatePaused:  {StateRunning, StateStopped},
	StateStopped: nil,
	StateDeleted: nil,
}

// CanTransition reports whether a disruptor in state s may move to state to.
// Staying put is allowed for every state but deleted; deleting is allowed
// from every state but deleted.
func (s State) CanTransition(to State) bool {
	if s < StateCreated || s > StateDeleted || to < StateCreated || to > StateDeleted {
		return false
	}
	if s == StateDeleted {
		return false
	}
	if to == s || to == StateDeleted {
		return true
	}
	for _, t := range transitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// Accepting reports whether a disruptor in state s accepts new events.
func (s State) Accepting() bool { return s == StateRunning }

// Active reports whether the disruptor's consumers run in state s.
func (s State) Active() bool { return s == StateRunning || s == StatePaused }

// checkTransition returns nil when from may move to to, and an
// [*TransitionError] otherwise.
func checkTransition(name string, from, to State) error {
	if from.CanTransition(to) {
		return nil
	}
	return &TransitionError{Disruptor: name, From: from, To: to}
}
